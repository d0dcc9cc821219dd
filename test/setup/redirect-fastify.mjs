// Module resolution hook of the log capture (registered by ./log-capture.ts): `import ... from
// 'fastify'` in the project's own files (tests, helpers, lib, examples) resolves to the capture's
// wrapper; node_modules and the wrapper itself get the real module. Plain JavaScript: it runs in
// the loader thread, where it must not depend on a TypeScript loader.
let wrapper = ''
let root = ''

export function initialize (data) {
  wrapper = data.wrapper
  root = data.root
}

export function resolve (specifier, context, nextResolve) {
  const parent = context.parentURL
  if (specifier === 'fastify' && parent !== undefined && parent !== wrapper && parent.startsWith(root) && !parent.includes('/node_modules/')) {
    return { url: wrapper, shortCircuit: true }
  }
  return nextResolve(specifier, context)
}
