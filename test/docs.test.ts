import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { COOKIE_POLICY_OPTION_NAMES, CSRF_OPTION_NAMES } from '../lib/policies/cookie-policy.js'
import * as errors from '../lib/errors.js'
import { errorCodes } from '../lib/errors.js'
import { OPTION_NAMES } from '../lib/config/options.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const read = (path: string): string => readFileSync(join(root, path), 'utf8')

/** The names of the headings of `level` (3 unless told) that are a single code span: "### `name`". */
function codeHeadings (markdown: string, level = 3): string[] {
  const heading = new RegExp(`^${'#'.repeat(level)} \`([^\`]+)\`[ \\t]*$`, 'gm')
  return [...markdown.matchAll(heading)].map((match) => match[1] as string)
}

/** The text under the heading "### `name`", up to the next heading of level 1 to 3, on one line. */
function section (markdown: string, name: string): string {
  const start = markdown.indexOf(`### \`${name}\`\n`)
  if (start === -1) return ''
  const rest = markdown.slice(start + name.length + 7)
  const end = rest.search(/^#{1,3} /m)
  return (end === -1 ? rest : rest.slice(0, end)).replace(/\s+/g, ' ')
}

function countOf (names: string[], name: string): number {
  return names.filter((item) => item === name).length
}

t.test('docs/options.md has one heading per option, and none for anything else', async (t) => {
  const headings = codeHeadings(read('docs/options.md'))
  for (const name of OPTION_NAMES) t.equal(countOf(headings, name), 1, `### \`${name}\``)
  for (const heading of headings) t.ok(OPTION_NAMES.has(heading), `### \`${heading}\` is an option`)
})

t.test('docs/cookie-sessions.md has one heading per JwtCookiePolicy option and csrf option, and none for anything else', async (t) => {
  const doc = read('docs/cookie-sessions.md')
  const headings = codeHeadings(doc)
  for (const name of COOKIE_POLICY_OPTION_NAMES) t.equal(countOf(headings, name), 1, `### \`${name}\``)
  for (const heading of headings) t.ok(COOKIE_POLICY_OPTION_NAMES.has(heading), `### \`${heading}\` is a JwtCookiePolicy option`)
  const csrfNames = [...CSRF_OPTION_NAMES].map((name) => `csrf.${name}`)
  const subheadings = codeHeadings(doc, 4)
  for (const name of csrfNames) {
    t.equal(countOf(subheadings, name), 1, `#### \`${name}\``)
    t.ok(section(doc, 'csrf').includes(`#### \`${name}\``), `#### \`${name}\` is under ### \`csrf\``)
  }
  for (const heading of subheadings) t.ok(csrfNames.includes(heading), `#### \`${heading}\` is a csrf option`)
})

t.test('docs/errors.md has one heading per error code, and none for anything else', async (t) => {
  const headings = codeHeadings(read('docs/errors.md'))
  for (const code of errorCodes) t.equal(countOf(headings, code), 1, `### \`${code}\``)
  for (const heading of headings) t.ok(errorCodes.includes(heading), `### \`${heading}\` is an error code`)
})

t.test('docs/errors.md gives the status and the fixed message of every error', async (t) => {
  const doc = read('docs/errors.md')
  let checked = 0
  for (const value of Object.values(errors)) {
    if (typeof value !== 'function' || !(value.prototype instanceof Error)) continue
    const error = new (value as new () => Error & { code: string, statusCode: number })()
    const text = section(doc, error.code)
    t.match(text, `Status: ${error.statusCode}.`, `${error.code} status`)
    if (!/%[sdifjoO]/.test(error.message)) t.ok(text.includes(`"${error.message}"`), `${error.code} message`)
    checked++
  }
  t.equal(checked, errorCodes.length - 2, 'every error class was checked')
  const remember = errors.headerPolicyRememberWarning
  t.ok(section(doc, remember.code).includes(`"${remember.message}"`), `${remember.code} message`)
  // A message with format arguments is documented with <placeholders>, wrapped like the rest.
  const shadows = errors.aclShadowsPrincipalWarning
  const documented = section(doc, shadows.code).replace(/\s+/g, ' ').replaceAll('<permission>', '%s')
  t.ok(documented.includes(`"${shadows.message}"`), `${shadows.code} message`)
})

t.test('README.md starts with the two commands, each on its own line', async (t) => {
  const readme = read('README.md')
  const top = readme.slice(0, readme.indexOf('\n## '))
  const lines = top.split('\n')
  t.ok(lines.includes('npm install && npm start'), 'npm install && npm start')
  t.ok(lines.includes('npm install && npm test'), 'npm install && npm test')
})

t.test('relative links in README.md, CHANGELOG.md and docs/ point to existing files and headings', async (t) => {
  const files = ['README.md', 'CHANGELOG.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]
  t.ok(files.includes('docs/authorization.md'), 'every guide is checked')
  for (const file of files) {
    const markdown = read(file)
    for (const match of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1] as string
      if (/^[a-z]+:/.test(target)) continue
      const [path = '', anchor] = target.split('#')
      const linked = path === '' ? file : join(dirname(file), path)
      t.ok(existsSync(join(root, linked)), `${file}: ${target}`)
      if (anchor !== undefined && linked.endsWith('.md') && existsSync(join(root, linked))) {
        t.ok(slugs(read(linked)).has(anchor), `${file}: ${target} names a heading`)
      }
    }
  }
})

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens. */
function slugs (markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```$/gm, '')
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((match) =>
    (match[1] as string).toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')))
}
