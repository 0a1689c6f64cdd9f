// ECharts options for the overview's charts, built from the stats endpoints' rows. Pure: each builder also says
// where a click on a bar or point drills down to (a filter of the incident list) and gives the same figures as a
// table, the charts' keyboard- and screen-reader-friendly alternative.
import type { EChartsOption } from 'echarts'
import type { Schemas } from '@/api/client'
import type { IncidentFilter } from './incidents'
import { bucketMs, type Span } from './timeRange'

export type Drill = Partial<IncidentFilter> | null
export interface TableCell {
  text: string
  drill: Drill
}
export interface ChartTable {
  columns: string[]
  rows: Array<{ label: string; cells: TableCell[] }>
}
export interface ChartModel {
  option: EChartsOption
  /** The incident-list filter behind series `seriesIndex`, point `dataIndex`; null: nothing to drill into. */
  drill(seriesIndex: number, dataIndex: number): Drill
  table: ChartTable
  empty: boolean
}

export interface ChartLabels {
  /** A kind, district, camera or model key as people read it; null: "none". */
  group(key: string | null): string
  /** A bucket's start, hourly or daily. */
  time(ms: number, bucket: number): string
  percent(value: number): string
  timeColumn: string
  /** Column headings of the table alternative where the chart has no time axis. */
  columns?: string[]
}

const HOUR = 3_600_000
const DAY = 24 * HOUR

function binStart(ms: number, bucket: number): number {
  if (bucket < DAY) return Math.floor(ms / bucket) * bucket
  const day = new Date(ms)
  day.setHours(0, 0, 0, 0)
  return day.getTime()
}

function nextBin(ms: number, bucket: number): number {
  if (bucket < DAY) return ms + bucket
  const day = new Date(ms)
  day.setDate(day.getDate() + 1)
  return day.getTime()
}

export function bins(span: Span, bucket: number): number[] {
  const out: number[] = []
  for (let at = binStart(span.since.getTime(), bucket); at < span.until.getTime(); at = nextBin(at, bucket)) out.push(at)
  return out
}

const iso = (ms: number): string => new Date(ms).toISOString()
const base: EChartsOption = {
  backgroundColor: 'transparent',
  aria: { enabled: true, decal: { show: true } }, // patterns as well as colours, and a description for readers
  tooltip: { trigger: 'axis', confine: true },
  grid: { left: 8, right: 12, top: 36, bottom: 8, containLabel: true },
}

function seriesKeys<R>(rows: R[], key: (r: R) => string | null, weight: (r: R) => number): Array<string | null> {
  const totals = new Map<string | null, number>()
  for (const row of rows) totals.set(key(row), (totals.get(key(row)) ?? 0) + weight(row))
  return [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k)
}

function groupFilter(dimension: 'kind' | 'district', key: string | null): Partial<IncidentFilter> {
  if (key === null) return {}
  return dimension === 'kind' ? { kind: [key] } : { district: key }
}

/** Incidents per hour (or day, for long ranges) stacked by kind or district (GET /stats/incidents-hourly). */
export function incidentsChart(
  rows: Array<Schemas['IncidentsHourlyRow']>,
  dimension: 'kind' | 'district',
  span: Span,
  labels: ChartLabels,
): ChartModel {
  const bucket = bucketMs(span)
  const starts = bins(span, bucket)
  const index = new Map(starts.map((s, i) => [s, i]))
  const keys = seriesKeys(rows, (r) => r[dimension] ?? null, (r) => r.incidents)
  const counts = keys.map(() => starts.map(() => 0))
  for (const row of rows) {
    const i = index.get(binStart(Date.parse(row.bucket), bucket))
    if (i !== undefined) counts[keys.indexOf(row[dimension] ?? null)][i] += row.incidents
  }
  const drill = (s: number, i: number): Drill =>
    s in keys && i in starts ? { ...groupFilter(dimension, keys[s]), since: iso(starts[i]), until: iso(nextBin(starts[i], bucket)) } : null
  const option: EChartsOption = {
    ...base,
    legend: { type: 'scroll', top: 0 },
    xAxis: { type: 'category', data: starts.map((s) => labels.time(s, bucket)) },
    yAxis: { type: 'value', minInterval: 1 },
    series: keys.map((k, s) => ({ type: 'bar', stack: 'all', name: labels.group(k), data: counts[s], cursor: 'pointer' })),
  }
  const rowsWithData = starts.map((_, i) => i).filter((i) => counts.some((c) => c[i] > 0))
  const table: ChartTable = {
    columns: [labels.timeColumn, ...keys.map((k) => labels.group(k))],
    rows: rowsWithData.map((i) => ({
      label: labels.time(starts[i], bucket),
      cells: keys.map((_, s) => ({ text: String(counts[s][i]), drill: counts[s][i] ? drill(s, i) : null })),
    })),
  }
  return { option, drill, table, empty: rows.length === 0 }
}

/** SLA compliance per due day, one line per kind and one for all (GET /stats/sla-daily?by=kind). */
export function slaChart(rows: Array<Schemas['SlaDailyRow']>, days: string[], labels: ChartLabels & { all: string }): ChartModel {
  const kinds = seriesKeys(rows, (r) => r.kind ?? null, (r) => r.met + r.breached)
  const figures = (match: (r: Schemas['SlaDailyRow']) => boolean) =>
    days.map((day) => {
      const of = rows.filter((r) => r.day === day && match(r))
      const met = of.reduce((n, r) => n + r.met, 0)
      const decided = met + of.reduce((n, r) => n + r.breached, 0)
      return decided ? Math.round((met / decided) * 1000) / 10 : null
    })
  const lines = [figures(() => true), ...kinds.map((k) => figures((r) => (r.kind ?? null) === k))]
  const names = [labels.all, ...kinds.map((k) => labels.group(k))]
  const dayStart = (day: string): number => new Date(`${day}T00:00:00`).getTime()
  const drill = (s: number, i: number): Drill => {
    if (!(s in lines) || !(i in days) || lines[s][i] === null) return null
    const range = { since: iso(dayStart(days[i])), until: iso(nextBin(dayStart(days[i]), DAY)) }
    return s === 0 || kinds[s - 1] === null ? range : { kind: [kinds[s - 1] as string], ...range }
  }
  const option: EChartsOption = {
    ...base,
    legend: { type: 'scroll', top: 0 },
    xAxis: { type: 'category', data: days.map((d) => labels.time(dayStart(d), DAY)) },
    yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value} %' } },
    series: lines.map((data, s) => ({
      type: 'line',
      name: names[s],
      data,
      symbolSize: 8,
      lineStyle: { width: s === 0 ? 3 : 1.5 },
      cursor: 'pointer',
    })),
  }
  const table: ChartTable = {
    columns: [labels.timeColumn, ...names],
    rows: days
      .map((day, i) => ({ day, i }))
      .filter(({ i }) => lines.some((l) => l[i] !== null))
      .map(({ day, i }) => ({
        label: labels.time(dayStart(day), DAY),
        cells: lines.map((l, s) => ({ text: l[i] === null ? '—' : labels.percent(l[i]! / 100), drill: drill(s, i) })),
      })),
  }
  return { option, drill, table, empty: lines[0].every((v) => v === null) }
}

/** False-alarm rate per camera or per model, worst first (GET /stats/precision). */
export function falseAlarmChart(
  rows: Array<Schemas['PrecisionRow']>,
  by: 'camera' | 'model',
  labels: ChartLabels,
  top = 10,
): ChartModel {
  const worst = [...rows]
    .sort((a, b) => b.false_alarms / b.decided - a.false_alarms / a.decided || b.decided - a.decided)
    .slice(0, top)
  const keyOf = (r: Schemas['PrecisionRow']): string | null => (by === 'camera' ? (r.camera_id ?? null) : (r.model_name ?? null))
  const rates = worst.map((r) => Math.round((r.false_alarms / r.decided) * 1000) / 10)
  const drill = (_s: number, i: number): Drill => {
    const camera = by === 'camera' && i in worst ? keyOf(worst[i]) : null
    return camera ? { camera } : null
  }
  const names = worst.map((r) => `${labels.group(keyOf(r))} (${r.false_alarms}/${r.decided})`)
  const option: EChartsOption = {
    ...base,
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => `${v} %` },
    grid: { ...(base.grid as object), top: 8, left: 16, right: 24 },
    xAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value} %' } },
    yAxis: { type: 'category', data: names, inverse: true },
    series: [{ type: 'bar', name: '%', data: rates, cursor: by === 'camera' ? 'pointer' : 'default' }],
  }
  const table: ChartTable = {
    columns: labels.columns ?? [by, '%'],
    rows: worst.map((_r, i) => ({ label: names[i], cells: [{ text: labels.percent(rates[i] / 100), drill: drill(0, i) }] })),
  }
  return { option, drill, table, empty: rows.length === 0 }
}

/** Devices online, stale, offline and never seen (the summary's fleet figures). */
export function fleetChart(fleet: Schemas['FleetFigures'], labels: ChartLabels): ChartModel {
  const keys = ['online', 'stale', 'offline', 'never_seen'] as const
  const colours = { online: '#15803d', stale: '#b45309', offline: '#6b7280', never_seen: '#a3a3a3' }
  const faults: Drill = { kind: ['camera_fault'], status: ['open'] }
  const drill = (_s: number, i: number): Drill => (i in keys && keys[i] !== 'online' ? faults : null)
  const option: EChartsOption = {
    ...base,
    tooltip: { trigger: 'item', confine: true },
    legend: { type: 'scroll', bottom: 0 },
    series: [
      {
        type: 'pie',
        radius: ['40%', '70%'],
        center: ['50%', '45%'],
        label: { formatter: '{b}: {c}' },
        data: keys.map((k) => ({ name: labels.group(k), value: fleet[k], itemStyle: { color: colours[k] } })),
      },
    ],
  }
  const table: ChartTable = {
    columns: labels.columns ?? ['', ''],
    rows: keys.map((k, i) => ({ label: labels.group(k), cells: [{ text: String(fleet[k]), drill: fleet[k] ? drill(0, i) : null }] })),
  }
  return { option, drill, table, empty: fleet.total === 0 }
}
