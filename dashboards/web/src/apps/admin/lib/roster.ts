// Duty windows as the router reads them (cloud_hub/dispatch/routing.py RosterEntry.on_duty): ISO weekdays 1=Mon..7=Sun
// (none = every day), a local window that may cross midnight (its weekday is the day the shift starts), or all day.

export const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7] as const
export const WORKDAYS = [1, 2, 3, 4, 5]

/** "HH:MM:SS" or "HH:MM" -> "HH:MM". */
export function hhmm(time: string | null | undefined): string {
  return time ? time.slice(0, 5) : ''
}

/** A window that ends at or before it starts runs past midnight into the next day. */
export function crossesMidnight(start: string | null | undefined, end: string | null | undefined): boolean {
  return !!start && !!end && hhmm(end) <= hhmm(start)
}

/** Weekdays in order, or null for every day (all seven ticked means every day too). */
export function normaliseWeekdays(days: number[] | null | undefined): number[] | null {
  if (!days || days.length === 0) return null
  const sorted = [...new Set(days)].filter((d) => d >= 1 && d <= 7).sort((a, b) => a - b)
  return sorted.length === 7 ? null : sorted
}

/** Consecutive runs of weekdays, e.g. [1,2,3,4,5,7] -> [[1,5],[7,7]]: shown as "Mon–Fri, Sun". */
export function weekdayRuns(days: number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = []
  for (const d of [...days].sort((a, b) => a - b)) {
    const last = runs[runs.length - 1]
    if (last && d === last[1] + 1) last[1] = d
    else runs.push([d, d])
  }
  return runs
}

export interface RosterForm {
  grid_id: string
  username: string
  weekdays: number[]
  allDay: boolean
  start_time: string
  end_time: string
  timezone: string
  priority: number
}

/** The request body of a roster entry from the form (all day: no window; every day: weekdays null). */
export function rosterBody(form: RosterForm): {
  grid_id: string
  username: string
  weekdays: number[] | null
  start_time: string | null
  end_time: string | null
  timezone: string
  priority: number
} {
  return {
    grid_id: form.grid_id,
    username: form.username,
    weekdays: normaliseWeekdays(form.weekdays),
    start_time: form.allDay ? null : hhmm(form.start_time),
    end_time: form.allDay ? null : hhmm(form.end_time),
    timezone: form.timezone,
    priority: form.priority,
  }
}

/** IANA zones offered first; any other valid name can be typed. */
export const COMMON_TIMEZONES = [
  'Asia/Shanghai',
  'Asia/Hong_Kong',
  'Asia/Urumqi',
  'Asia/Taipei',
  'Asia/Tokyo',
  'Asia/Singapore',
  'Europe/London',
  'Europe/Berlin',
  'America/New_York',
  'UTC',
]
