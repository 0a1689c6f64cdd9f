// The incident list's filters as a URL query (so every drill-down is a plain link) and as the hub's query
// parameters. Lists are comma separated: ?status=open&kind=illegal_parking,waterlogging&severity=red&district=...
// &grid=...&camera=...&since=<RFC 3339>&until=<RFC 3339>&overdue=1&sort=severity
import type { LocationQuery, LocationQueryRaw } from 'vue-router'
import { INCIDENT_STATUSES, KINDS, SEVERITIES, type IncidentFilter, type IncidentSort } from './incidents'

const SORTS: readonly IncidentSort[] = ['last_seen', 'severity', 'first_seen']

function one(query: LocationQuery, key: string): string | undefined {
  const value = query[key]
  const text = Array.isArray(value) ? value[0] : value
  return text ? String(text) : undefined
}

function list(query: LocationQuery, key: string, allowed?: readonly string[]): string[] {
  const raw = query[key]
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (v ? String(v).split(',') : []))
  const clean = parts.map((p) => p.trim()).filter((p) => p && (!allowed || allowed.includes(p)))
  return [...new Set(clean)]
}

function time(query: LocationQuery, key: string): string | undefined {
  const text = one(query, key)
  return text && !Number.isNaN(Date.parse(text)) ? new Date(text).toISOString() : undefined
}

export function filterFromQuery(query: LocationQuery): IncidentFilter {
  const overdue = one(query, 'overdue')
  return {
    status: list(query, 'status', INCIDENT_STATUSES),
    kind: list(query, 'kind', KINDS),
    severity: list(query, 'severity', SEVERITIES),
    district: one(query, 'district'),
    grid: one(query, 'grid'),
    camera: one(query, 'camera'),
    since: time(query, 'since'),
    until: time(query, 'until'),
    overdue: overdue === '1' || overdue === 'true' ? true : overdue === '0' || overdue === 'false' ? false : undefined,
  }
}

export function sortFromQuery(query: LocationQuery): IncidentSort {
  const sort = one(query, 'sort')
  return SORTS.includes(sort as IncidentSort) ? (sort as IncidentSort) : 'last_seen'
}

/** The URL query of a filter: only what is set, in a stable order (so equal filters give equal links). */
export function queryFromFilter(filter: Partial<IncidentFilter>, sort: IncidentSort = 'last_seen'): LocationQueryRaw {
  const query: LocationQueryRaw = {}
  for (const key of ['status', 'kind', 'severity'] as const) {
    if (filter[key]?.length) query[key] = filter[key]!.join(',')
  }
  for (const key of ['district', 'grid', 'camera', 'since', 'until'] as const) {
    if (filter[key]) query[key] = filter[key]
  }
  if (filter.overdue !== undefined) query.overdue = filter.overdue ? '1' : '0'
  if (sort !== 'last_seen') query.sort = sort
  return query
}

/** The hub's GET /api/v1/incidents parameters for a filter. */
export function apiQuery(filter: IncidentFilter, sort: IncidentSort, limit: number, offset: number) {
  return {
    status: filter.status.length ? (filter.status as Array<(typeof INCIDENT_STATUSES)[number]>) : undefined,
    kind: filter.kind.length ? filter.kind : undefined,
    severity: filter.severity.length ? (filter.severity as Array<(typeof SEVERITIES)[number]>) : undefined,
    district: filter.district,
    grid_id: filter.grid,
    camera_id: filter.camera,
    since: filter.since,
    until: filter.until,
    overdue: filter.overdue,
    sort,
    limit,
    offset,
  }
}

/** A link to the incident list with this filter (drill-downs). */
export function incidentsLink(filter: Partial<IncidentFilter>): { path: string; query: LocationQueryRaw } {
  return { path: '/incidents', query: queryFromFilter(filter) }
}
