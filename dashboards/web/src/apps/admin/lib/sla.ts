// The SLA table of sla.yaml's parsed content (the hub's SlaRules with defaults filled in): minutes per event kind and
// severity, which kinds fall back to the default row, and the calendar each severity's clock runs on.
export const SEVERITIES = ['red', 'orange', 'yellow', 'blue'] as const
export type Severity = (typeof SEVERITIES)[number]

export type Minutes = Record<Severity, number>

export interface SlaRow {
  kind: string | null // null: the default row
  minutes: Minutes
}

export interface SlaCalendar {
  name: string
  always: boolean
  timezone: string
  weekdays: number[]
  hours: [string, string] | null
  national: string | null
  holidays: string[]
  working_days: string[]
}

export interface SlaView {
  rows: SlaRow[]
  severityCalendar: Array<{ severity: Severity; calendar: string }>
  calendars: SlaCalendar[]
}

function minutesOf(value: unknown): Minutes | null {
  if (!value || typeof value !== 'object') return null
  const v = value as Record<string, unknown>
  return SEVERITIES.every((s) => typeof v[s] === 'number') ? (v as unknown as Minutes) : null
}

/** The view of a parsed SlaRules (null when the content is not one). */
export function slaView(content: Record<string, unknown> | null | undefined): SlaView | null {
  if (!content) return null
  const fallback = minutesOf(content.default)
  if (!fallback) return null
  const kinds = (content.kinds ?? {}) as Record<string, unknown>
  const rows: SlaRow[] = [{ kind: null, minutes: fallback }]
  for (const kind of Object.keys(kinds).sort()) {
    const minutes = minutesOf(kinds[kind])
    if (minutes) rows.push({ kind, minutes })
  }
  const mapping = (content.severity_calendar ?? {}) as Record<string, string>
  const raw = (content.calendars ?? {}) as Record<string, Record<string, unknown>>
  const calendars: SlaCalendar[] = Object.entries(raw).map(([name, c]) => ({
    name,
    always: !!c.always,
    timezone: String(c.timezone ?? ''),
    weekdays: Array.isArray(c.weekdays) ? (c.weekdays as number[]) : [],
    hours: Array.isArray(c.hours) ? (c.hours as [string, string]) : null,
    national: typeof c.national === 'string' ? c.national : null,
    holidays: Array.isArray(c.holidays) ? (c.holidays as string[]) : [],
    working_days: Array.isArray(c.working_days) ? (c.working_days as string[]) : [],
  }))
  return { rows, severityCalendar: SEVERITIES.map((severity) => ({ severity, calendar: mapping[severity] ?? '' })), calendars }
}
