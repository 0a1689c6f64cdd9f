// "3 min ago" for when something was last seen (DataAge's "updated ... ago" is for data, not for events).
import { i18n } from '@/i18n'

// Plain signature: the full generic type of vue-i18n's `t` is too deep for the type checker here.
const t = (i18n.global as unknown as { t: (key: string, values?: Record<string, unknown>) => string }).t

export function agoLabel(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 10) return t('command.ago.justNow')
  if (s < 60) return t('command.ago.seconds', { n: s })
  if (s < 3600) return t('command.ago.minutes', { n: Math.floor(s / 60) })
  if (s < 86_400) return t('command.ago.hours', { n: Math.floor(s / 3600) })
  return t('command.ago.days', { n: Math.floor(s / 86_400) })
}
