// Duty windows in words, in the current language ("Mon–Fri", "22:00–06:00 (next day)", "all day").
import { i18n } from '@/i18n'
import { crossesMidnight, hhmm, weekdayRuns } from './roster'

const t = (i18n.global as unknown as { t: (key: string, values?: Record<string, unknown>) => string }).t

export function daysLabel(days: number[] | null | undefined): string {
  if (!days || days.length === 0 || days.length === 7) return t('admin.rosters.everyDay')
  return weekdayRuns(days)
    .map(([a, b]) => (a === b ? t(`admin.weekdays.${a}`) : `${t(`admin.weekdays.${a}`)}–${t(`admin.weekdays.${b}`)}`))
    .join(', ')
}

export function windowLabel(start: string | null | undefined, end: string | null | undefined): string {
  if (!start || !end) return t('admin.rosters.allDay')
  const text = `${hhmm(start)}–${hhmm(end)}`
  return crossesMidnight(start, end) ? `${text} ${t('admin.rosters.nextDay')}` : text
}
