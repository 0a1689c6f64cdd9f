// The command center's incidents as the screens hold them: what REST answered, kept current by live messages.
// Pure (no Vue, no fetch): `IncidentSet` merges `incident` and `work_order` messages into a filtered set, so the map,
// the list and the wall all follow the same rule; tested in tests/unit/command-incidents.test.ts.
import type { Schemas } from '@/api/client'

export type Incident = Schemas['IncidentPublic']
export type WorkOrderSummary = Schemas['IncidentWorkOrderSummary']
export type Severity = 'red' | 'orange' | 'yellow' | 'blue'
export type IncidentSort = 'last_seen' | 'severity' | 'first_seen'

export const SEVERITIES: readonly Severity[] = ['red', 'orange', 'yellow', 'blue']
export const INCIDENT_STATUSES = ['open', 'ended', 'closed'] as const
export const KINDS = [
  'illegal_parking',
  'kitchen_violation',
  'waterlogging',
  'road_occupation',
  'camera_fault',
  'citizen_report',
  'other',
] as const
// The hub's SLA clock runs in these work-order states (cloud_hub.workorders.state_machine.CLOCK_RUNNING): only
// they can be overdue.
export const CLOCK_RUNNING: ReadonlySet<string> = new Set([
  'registered',
  'dispatched',
  'accepted',
  'on_site',
  'returned',
  'escalated',
])

/** A work order as a live `work_order` message carries it: the table row plus its incident's place. */
export interface LiveWorkOrder {
  id: number
  incident_id?: number
  status?: string
  assignee?: string | null
  due_at?: string | null
  [key: string]: unknown
}

/** The order of a `work_order` message ({work_order, steps, ...}); null for a message without one. */
export function liveOrder(data: Record<string, unknown>): LiveWorkOrder | null {
  const order = data.work_order as LiveWorkOrder | undefined
  return order && typeof order.id === 'number' ? order : null
}

/** The incident list's filters (the URL query of /command/incidents, see filters.ts). */
export interface IncidentFilter {
  status: string[]
  kind: string[]
  severity: string[]
  district?: string
  grid?: string
  camera?: string
  since?: string // RFC 3339, last seen at or after
  until?: string // RFC 3339, last seen before
  overdue?: boolean
}

export const NO_FILTER: IncidentFilter = { status: [], kind: [], severity: [] }

export function severityRank(severity: string): number {
  const i = SEVERITIES.indexOf(severity as Severity)
  return i < 0 ? SEVERITIES.length : i
}

/** Past its deadline with the SLA clock running, at `now` (ms). */
export function isOverdue(status: string | null | undefined, dueAt: string | null | undefined, now: number): boolean {
  return !!status && !!dueAt && CLOCK_RUNNING.has(status) && Date.parse(dueAt) < now
}

export function orderOverdue(order: WorkOrderSummary | null | undefined, now: number): boolean {
  return !!order && isOverdue(order.status, order.due_at, now)
}

export function incidentMatches(incident: Incident, filter: IncidentFilter, now: number): boolean {
  const within = (values: string[], value: string | null): boolean => !values.length || values.includes(value ?? '')
  if (!within(filter.status, incident.status)) return false
  if (!within(filter.kind, incident.kind)) return false
  if (!within(filter.severity, incident.severity)) return false
  if (filter.district && incident.district !== filter.district) return false
  if (filter.grid && incident.grid_id !== filter.grid) return false
  if (filter.camera && incident.camera_id !== filter.camera) return false
  const seen = Date.parse(incident.last_seen)
  if (filter.since && seen < Date.parse(filter.since)) return false
  if (filter.until && seen >= Date.parse(filter.until)) return false
  if (filter.overdue !== undefined && orderOverdue(incident.work_order, now) !== filter.overdue) return false
  return true
}

const COMPARE: Record<IncidentSort, (a: Incident, b: Incident) => number> = {
  last_seen: (a, b) => Date.parse(b.last_seen) - Date.parse(a.last_seen) || b.id - a.id,
  first_seen: (a, b) => Date.parse(b.first_seen) - Date.parse(a.first_seen) || b.id - a.id,
  severity: (a, b) => severityRank(a.severity) - severityRank(b.severity) || COMPARE.last_seen(a, b),
}

export function sortIncidents(items: Iterable<Incident>, sort: IncidentSort): Incident[] {
  return [...items].sort(COMPARE[sort])
}

/** The incident row of a live message (the `incidents` table as JSON) as the API's shape, keeping what only REST
 * knows (its work order's summary). */
export function incidentFromLive(data: Record<string, unknown>, previous?: Incident): Incident {
  const row = data as unknown as Incident
  return { ...previous, ...row, measurements: row.measurements ?? {}, work_order: previous?.work_order ?? null }
}

export function summaryFromLive(
  order: LiveWorkOrder,
  previous: WorkOrderSummary | null | undefined,
  now: number,
): WorkOrderSummary {
  const status = order.status ?? previous?.status ?? 'registered'
  const dueAt = order.due_at !== undefined ? order.due_at : (previous?.due_at ?? null)
  const summary: WorkOrderSummary = {
    id: order.id,
    status,
    assignee: order.assignee !== undefined ? order.assignee : (previous?.assignee ?? null),
    due_at: dueAt,
    overdue: isOverdue(status, dueAt, now),
  }
  return summary
}

export type Change = 'added' | 'updated' | 'removed' | null

/**
 * A set of incidents under one filter. REST pages are loaded into it; live messages are applied to it: an incident
 * that (still) matches is added or updated, one that no longer matches leaves. `count` follows the hub's total.
 */
export class IncidentSet {
  private readonly byId = new Map<number, Incident>()
  private readonly byOrder = new Map<number, number>() // work order id -> incident id
  count = 0

  constructor(
    public filter: IncidentFilter = NO_FILTER,
    public sort: IncidentSort = 'last_seen',
  ) {}

  get size(): number {
    return this.byId.size
  }

  get(id: number): Incident | undefined {
    return this.byId.get(id)
  }

  /** Replace everything with a fresh first page (after a filter change or a resync). */
  reset(items: Incident[], count: number): void {
    this.byId.clear()
    this.byOrder.clear()
    this.append(items)
    this.count = Math.max(count, this.byId.size)
  }

  /** Add a further page. */
  append(items: Incident[]): void {
    for (const incident of items) this.put(incident)
  }

  list(): Incident[] {
    return sortIncidents(this.byId.values(), this.sort)
  }

  applyIncident(data: Record<string, unknown>, now: number): Change {
    const id = Number(data.id)
    const previous = this.byId.get(id)
    const incident = incidentFromLive(data, previous)
    return this.settle(previous, incident, now)
  }

  applyWorkOrder(order: LiveWorkOrder, now: number): Change {
    const incidentId = order.incident_id ?? this.byOrder.get(order.id)
    const previous = incidentId === undefined ? undefined : this.byId.get(incidentId)
    if (!previous) return null
    const work_order = summaryFromLive(order, previous.work_order, now)
    return this.settle(previous, { ...previous, work_order }, now)
  }

  private settle(previous: Incident | undefined, incident: Incident, now: number): Change {
    const matches = incidentMatches(incident, this.filter, now)
    if (!matches) {
      if (!previous) return null
      this.remove(incident.id)
      return 'removed'
    }
    this.put(incident)
    if (previous) return 'updated'
    this.count += 1
    return 'added'
  }

  private put(incident: Incident): void {
    this.byId.set(incident.id, incident)
    if (incident.work_order) this.byOrder.set(incident.work_order.id, incident.id)
  }

  private remove(id: number): void {
    const gone = this.byId.get(id)
    this.byId.delete(id)
    if (gone?.work_order) this.byOrder.delete(gone.work_order.id)
    this.count = Math.max(this.byId.size, this.count - 1)
  }
}
