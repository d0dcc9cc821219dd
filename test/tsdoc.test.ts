// Every symbol the package exports (and every member of its `errors` namespace) has TSDoc with a
// summary and at least one @example: the API reference (`npm run docs`) is generated from it.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entry = join(root, 'lib', 'index.ts')
const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true })
const checker = program.getTypeChecker()

function moduleExports (file: string): ts.Symbol[] {
  const source = program.getSourceFile(file)
  const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source)
  return symbol === undefined ? [] : checker.getExportsOfModule(symbol)
}

function resolved (symbol: ts.Symbol): ts.Symbol {
  return (symbol.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(symbol) : symbol
}

/** The exported symbols, by the name users import them by (errors.X for the namespace's members). */
function publicSymbols (): Map<string, ts.Symbol> {
  const found = new Map<string, ts.Symbol>()
  for (const exported of moduleExports(entry)) {
    const target = resolved(exported)
    if ((target.flags & ts.SymbolFlags.ValueModule) !== 0 && exported.name === 'errors') {
      for (const member of checker.getExportsOfModule(target)) found.set(`errors.${member.name}`, resolved(member))
      continue
    }
    found.set(exported.name, target)
  }
  return found
}

const symbols = publicSymbols()

t.test('the public surface was found', async (t) => {
  for (const name of ['default', 'JwtHeaderPolicy', 'JwtCookiePolicy', 'ACLHelper', 'SecurityPolicy', 'errors.InvalidTokenError', 'fromSettings']) {
    t.ok(symbols.has(name), name)
  }
})

t.test('every exported symbol has a TSDoc summary and an @example', async (t) => {
  const missing: string[] = []
  for (const [name, symbol] of symbols) {
    const summary = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim()
    const examples = symbol.getJsDocTags(checker).filter((tag) => tag.name === 'example' && ts.displayPartsToString(tag.text).trim() !== '')
    if (summary === '') missing.push(`${name}: no summary`)
    if (examples.length === 0) missing.push(`${name}: no @example`)
  }
  t.strictSame(missing, [], `${symbols.size} exported symbols`)
})
