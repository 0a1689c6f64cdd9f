// The overview's time range: a preset ending now (re-evaluated at every fetch) or a fixed span the user picked.
export const PRESETS = ['1h', '6h', '24h', '7d', '30d'] as const
export type Preset = (typeof PRESETS)[number]
export type TimeRange = { preset: Preset } | { since: string; until: string }

const HOUR = 3_600_000
const PRESET_MS: Record<Preset, number> = { '1h': HOUR, '6h': 6 * HOUR, '24h': 24 * HOUR, '7d': 168 * HOUR, '30d': 720 * HOUR }

export interface Span {
  since: Date
  until: Date
}

export function resolveRange(range: TimeRange, now: number): Span {
  if ('preset' in range) return { since: new Date(now - PRESET_MS[range.preset]), until: new Date(now) }
  return { since: new Date(range.since), until: new Date(range.until) }
}

/** Hourly buckets up to two days, daily ones beyond (a chart of 720 bars says nothing). */
export function bucketMs(span: Span): number {
  return span.until.getTime() - span.since.getTime() > 48 * HOUR ? 24 * HOUR : HOUR
}

/** YYYY-MM-DD of a time, in the browser's time zone (the SLA rollups are per day). */
export function isoDay(at: Date): string {
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000)
  return local.toISOString().slice(0, 10)
}

/** The range as a URL query value: "24h", or "<since>/<until>". */
export function rangeToQuery(range: TimeRange): string {
  return 'preset' in range ? range.preset : `${range.since}/${range.until}`
}

export function rangeFromQuery(text: unknown, fallback: TimeRange = { preset: '24h' }): TimeRange {
  const value = typeof text === 'string' ? text : ''
  if ((PRESETS as readonly string[]).includes(value)) return { preset: value as Preset }
  const [since, until] = value.split('/')
  if (since && until && !Number.isNaN(Date.parse(since)) && Date.parse(until) > Date.parse(since)) {
    return { since: new Date(since).toISOString(), until: new Date(until).toISOString() }
  }
  return fallback
}
