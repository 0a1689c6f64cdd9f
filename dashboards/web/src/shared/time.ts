// Durations and ages as people read them, in the current language.
import { computed, onBeforeUnmount, ref, type Ref } from 'vue'
import { i18n } from '@/i18n'

// Plain signature: the full generic type of vue-i18n's `t` is too deep for the type checker here.
const t = (i18n.global as unknown as { t: (key: string, values?: Record<string, unknown>) => string }).t

/** 3 d 4 h, 2 h 5 min, 12 min, 40 s: the two largest units. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000))
  const zh = i18n.global.locale.value === 'zh-CN'
  const units: Array<[number, string, string]> = [
    [86_400, '天', 'd'],
    [3_600, '小时', 'h'],
    [60, '分钟', 'min'],
    [1, '秒', 's'],
  ]
  const parts: string[] = []
  let rest = s
  for (const [size, zhUnit, enUnit] of units) {
    const n = Math.floor(rest / size)
    if (n > 0 || (size === 1 && parts.length === 0)) {
      parts.push(zh ? `${n}${zhUnit}` : `${n} ${enUnit}`)
      rest -= n * size
    }
    if (parts.length === 2) break
  }
  return parts.join(zh ? '' : ' ')
}

/** "Updated 12 s ago" for a time in ms since the epoch (null: never). */
export function ageLabel(at: number | null, now: number): string {
  if (at === null) return t('common.age.never')
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 5) return t('common.age.justNow')
  if (s < 60) return t('common.age.seconds', { n: s })
  if (s < 3600) return t('common.age.minutes', { n: Math.floor(s / 60) })
  return t('common.age.hours', { n: Math.floor(s / 3600) })
}

/** "2 h 5 min left" / "Overdue by 12 min" for an RFC 3339 deadline. */
export function dueLabel(dueAt: string | null | undefined, now: number): { text: string; overdue: boolean } {
  if (!dueAt) return { text: t('common.due.none'), overdue: false }
  const left = Date.parse(dueAt) - now
  return left >= 0
    ? { text: t('common.due.left', { time: formatDuration(left) }), overdue: false }
    : { text: t('common.due.overdue', { time: formatDuration(-left) }), overdue: true }
}

/** The current time, ticking every `everyMs` while the component lives (countdowns, data ages). */
export function useNow(everyMs = 1000): Ref<number> {
  const now = ref(Date.now())
  const timer = setInterval(() => (now.value = Date.now()), everyMs)
  onBeforeUnmount(() => clearInterval(timer))
  return now
}

export function useAge(at: Ref<number | null>): Ref<string> {
  const now = useNow()
  return computed(() => ageLabel(at.value, now.value))
}
