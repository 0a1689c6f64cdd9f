// Fails (exit 1) when the two languages disagree or the code uses a text that does not exist:
// - every namespace has zh-CN and en files with the same keys, no empty texts, the same {placeholders};
// - every literal key in t('...') / $t('...') calls exists (dynamic keys t(`ns.group.${x}`): the group exists).
// Bare text in templates is caught by eslint (vue/no-bare-strings-in-template).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const messagesDir = join(root, 'src/i18n/messages')
const LOCALES = ['zh-CN', 'en']
const problems = []

function flatten(obj, prefix = '', out = new Map()) {
  for (const [key, value] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (value !== null && typeof value === 'object') flatten(value, path, out)
    else out.set(path, value)
  }
  return out
}

const catalogs = Object.fromEntries(LOCALES.map((l) => [l, new Map()]))
const namespaces = new Set()
for (const file of readdirSync(messagesDir)) {
  const match = /^([a-z]+)\.(zh-CN|en)\.json$/.exec(file)
  if (!match) {
    problems.push(`${file}: name must be <namespace>.<zh-CN|en>.json`)
    continue
  }
  namespaces.add(match[1])
  let data
  try {
    data = JSON.parse(readFileSync(join(messagesDir, file), 'utf8'))
  } catch (exc) {
    problems.push(`${file}: not valid JSON (${exc.message})`)
    continue
  }
  for (const [key, value] of flatten(data, match[1])) catalogs[match[2]].set(key, value)
}

const placeholders = (text) => [...String(text).matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',')
for (const ns of namespaces) {
  for (const locale of LOCALES) {
    if (![...catalogs[locale].keys()].some((k) => k.startsWith(`${ns}.`))) problems.push(`${ns}: no ${locale} texts`)
  }
}
for (const [locale, other] of [['zh-CN', 'en'], ['en', 'zh-CN']]) {
  for (const [key, value] of catalogs[locale]) {
    if (typeof value !== 'string' || value.trim() === '') problems.push(`${locale} ${key}: empty or not text`)
    if (!catalogs[other].has(key)) problems.push(`${key}: in ${locale} but missing in ${other}`)
    else if (locale === 'zh-CN' && placeholders(value) !== placeholders(catalogs[other].get(key))) {
      problems.push(`${key}: placeholders differ between zh-CN and en`)
    }
  }
}

function* sources(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* sources(path)
    else if (/\.(vue|ts)$/.test(name) && !name.endsWith('.d.ts')) yield path
  }
}

const keys = new Set(catalogs['zh-CN'].keys())
const groups = new Set([...keys].flatMap((k) => k.split('.').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('.'))))
let used = 0
for (const file of sources(join(root, 'src'))) {
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(/(?<![\w.])\$?t\(\s*(['"])([\w.-]+)\1/g)) {
    used++
    if (!keys.has(m[2])) problems.push(`${relative(root, file)}: t('${m[2]}') is not a text in the catalogs`)
  }
  for (const m of text.matchAll(/(?<![\w.])\$?t\(\s*`([\w.-]+)\.\$\{/g)) {
    used++
    if (!groups.has(m[1])) problems.push(`${relative(root, file)}: t(\`${m[1]}.\${...}\`) names no group of texts`)
  }
}

if (problems.length) {
  console.error(`i18n check failed (${problems.length}):\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`i18n check: ${keys.size} texts in ${namespaces.size} namespaces, both languages complete; ${used} uses checked`)
