import { describe, expect, it } from 'vitest'
import {
  IncidentSet,
  incidentMatches,
  isOverdue,
  sortIncidents,
  type Incident,
  type IncidentFilter,
} from '@/apps/command/model/incidents'

const NOW = Date.parse('2026-03-01T10:00:00Z')

function incident(id: number, over: Partial<Incident> = {}): Incident {
  return {
    id,
    device_id: 'edge-1',
    incident_key: `k${id}`,
    kind: 'illegal_parking',
    subtype: null,
    severity: 'yellow',
    status: 'open',
    camera_id: 'cam-1',
    zone_id: null,
    lon: 118.79,
    lat: 32.06,
    grid_id: 'g1',
    district: 'd1',
    first_event_id: 'a',
    last_event_id: 'b',
    evidence_event_id: null,
    first_seen: '2026-03-01T09:00:00Z',
    last_seen: '2026-03-01T09:30:00Z',
    ended_at: null,
    event_count: 1,
    confidence: 0.9,
    measurements: {},
    created_at: '2026-03-01T09:00:00Z',
    updated_at: '2026-03-01T09:30:00Z',
    work_order: null,
    ...over,
  }
}

const open: IncidentFilter = { status: ['open'], kind: [], severity: [] }
// What a live `incident` message carries: the table row, without the work order's summary.
const row = (i: Incident): Record<string, unknown> => {
  const rest: Record<string, unknown> = { ...i }
  delete rest.work_order
  return rest
}

describe('overdue', () => {
  it('needs a running SLA clock and a passed deadline', () => {
    expect(isOverdue('dispatched', '2026-03-01T09:59:00Z', NOW)).toBe(true)
    expect(isOverdue('dispatched', '2026-03-01T10:01:00Z', NOW)).toBe(false)
    expect(isOverdue('resolved', '2026-03-01T09:00:00Z', NOW)).toBe(false) // clock stopped
    expect(isOverdue('suspended', '2026-03-01T09:00:00Z', NOW)).toBe(false)
    expect(isOverdue('dispatched', null, NOW)).toBe(false)
  })
})

describe('incidentMatches', () => {
  it('applies every filter', () => {
    const i = incident(1)
    expect(incidentMatches(i, open, NOW)).toBe(true)
    expect(incidentMatches(i, { ...open, status: ['closed'] }, NOW)).toBe(false)
    expect(incidentMatches(i, { ...open, kind: ['waterlogging'] }, NOW)).toBe(false)
    expect(incidentMatches(i, { ...open, severity: ['yellow', 'red'] }, NOW)).toBe(true)
    expect(incidentMatches(i, { ...open, grid: 'g2' }, NOW)).toBe(false)
    expect(incidentMatches(i, { ...open, district: 'd1', camera: 'cam-1' }, NOW)).toBe(true)
    expect(incidentMatches(i, { ...open, since: '2026-03-01T09:30:00Z' }, NOW)).toBe(true) // at or after
    expect(incidentMatches(i, { ...open, until: '2026-03-01T09:30:00Z' }, NOW)).toBe(false) // before, exclusive
    expect(incidentMatches(i, { ...open, overdue: true }, NOW)).toBe(false)
    expect(incidentMatches(i, { ...open, overdue: false }, NOW)).toBe(true)
  })
})

describe('IncidentSet', () => {
  it('adds a new matching incident live and counts it', () => {
    const set = new IncidentSet(open)
    set.reset([incident(1)], 1)
    expect(set.applyIncident(row(incident(2, { last_seen: '2026-03-01T09:50:00Z' })), NOW)).toBe('added')
    expect(set.list().map((i) => i.id)).toEqual([2, 1])
    expect(set.count).toBe(2)
  })

  it('ignores an incident outside the filter and drops one that leaves it', () => {
    const set = new IncidentSet({ ...open, kind: ['illegal_parking'] })
    set.reset([incident(1)], 1)
    expect(set.applyIncident(row(incident(2, { kind: 'waterlogging' })), NOW)).toBeNull()
    expect(set.applyIncident(row(incident(1, { status: 'closed' })), NOW)).toBe('removed')
    expect(set.size).toBe(0)
    expect(set.count).toBe(0)
  })

  it('keeps the work order summary across incident updates', () => {
    const set = new IncidentSet(open)
    const summary = { id: 7, status: 'dispatched', assignee: 'officer1', due_at: '2026-03-01T11:00:00Z', overdue: false }
    set.reset([incident(1, { work_order: summary })], 1)
    set.applyIncident(row(incident(1, { event_count: 5 })), NOW)
    expect(set.get(1)?.event_count).toBe(5)
    expect(set.get(1)?.work_order).toEqual(summary)
  })

  it('merges work order messages into the incident, by incident id or by order id', () => {
    const set = new IncidentSet(open)
    set.reset([incident(1)], 1)
    const created = { id: 7, incident_id: 1, status: 'dispatched', assignee: 'officer1', due_at: '2026-03-01T09:40:00Z' }
    expect(set.applyWorkOrder(created, NOW)).toBe('updated')
    expect(set.get(1)?.work_order).toMatchObject({ id: 7, assignee: 'officer1', overdue: true })
    // `unassigned` messages carry only the id and the new assignee.
    expect(set.applyWorkOrder({ id: 7, assignee: null }, NOW)).toBe('updated')
    expect(set.get(1)?.work_order).toMatchObject({ id: 7, status: 'dispatched', assignee: null })
    expect(set.applyWorkOrder({ id: 99, incident_id: 42, status: 'dispatched' }, NOW)).toBeNull()
  })

  it('follows the overdue filter when an order changes', () => {
    const set = new IncidentSet({ ...open, overdue: true })
    const late = { id: 7, status: 'dispatched', assignee: 'officer1', due_at: '2026-03-01T09:40:00Z', overdue: true }
    set.reset([incident(1, { work_order: late })], 1)
    expect(set.applyWorkOrder({ id: 7, incident_id: 1, status: 'resolved' }, NOW)).toBe('removed')
  })
})

describe('sortIncidents', () => {
  it('sorts by severity, then newest', () => {
    const list = [
      incident(1, { severity: 'blue' }),
      incident(2, { severity: 'red', last_seen: '2026-03-01T09:00:00Z' }),
      incident(3, { severity: 'red', last_seen: '2026-03-01T09:45:00Z' }),
    ]
    expect(sortIncidents(list, 'severity').map((i) => i.id)).toEqual([3, 2, 1])
    expect(sortIncidents(list, 'last_seen').map((i) => i.id)).toEqual([3, 1, 2])
  })
})
