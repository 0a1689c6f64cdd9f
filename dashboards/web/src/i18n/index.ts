// Chinese by default, English on request. Messages live in one pair of files per namespace
// (src/i18n/messages/<namespace>.<locale>.json: common, login, command, officer, technician, admin), so each app's
// texts are edited in one place; `npm run i18n:check` fails when a key is missing in either language or a key used
// in the code does not exist.
import { createI18n } from 'vue-i18n'

export const LOCALES = ['zh-CN', 'en'] as const
export type Locale = (typeof LOCALES)[number]
const STORAGE_KEY = 'cityops.locale'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON texts of any depth
type Messages = Record<string, any>
const files = import.meta.glob<Messages>('./messages/*.json', { eager: true, import: 'default' })

export function loadMessages(): Record<Locale, Messages> {
  const out: Record<Locale, Messages> = { 'zh-CN': {}, en: {} }
  for (const [path, messages] of Object.entries(files)) {
    const match = /\/([a-z]+)\.(zh-CN|en)\.json$/.exec(path)
    if (match) (out[match[2] as Locale] as Record<string, Messages>)[match[1]] = messages
  }
  return out
}

export function savedLocale(): Locale {
  const saved = typeof localStorage === 'undefined' ? null : localStorage.getItem(STORAGE_KEY)
  return (LOCALES as readonly string[]).includes(saved ?? '') ? (saved as Locale) : 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: savedLocale(),
  fallbackLocale: 'zh-CN',
  messages: loadMessages(),
  missingWarn: false,
  fallbackWarn: false,
})

const listeners: Array<(locale: Locale) => void> = []

/** Call `fn` now and whenever the language changes (component libraries switch their own locale with it). */
export function onLocaleChange(fn: (locale: Locale) => void): void {
  listeners.push(fn)
  fn(i18n.global.locale.value as Locale)
}

export function setLocale(locale: Locale): void {
  i18n.global.locale.value = locale
  localStorage.setItem(STORAGE_KEY, locale)
  document.documentElement.lang = locale
  for (const fn of listeners) fn(locale)
}
