import { describe, expect, it } from 'vitest'
import { OrderBoard, boardOrder, type Order } from '@/apps/command/model/orders'

const NOW = Date.parse('2026-03-01T10:00:00Z')

function order(id: number, over: Partial<Order> = {}): Order {
  return {
    id,
    incident_id: id * 10,
    kind: 'illegal_parking',
    subtype: null,
    severity: 'yellow',
    status: 'dispatched',
    assignee: 'officer1',
    handled_by: null,
    suspended_from: null,
    grid_id: 'g1',
    district: 'd1',
    due_at: '2026-03-01T11:00:00Z',
    created_at: '2026-03-01T09:00:00Z',
    updated_at: '2026-03-01T09:00:00Z',
    ...over,
  }
}

describe('SLA board order', () => {
  it('puts overdue first (most overdue first), then the nearest deadline, none last', () => {
    const list = [
      order(1, { due_at: '2026-03-01T12:00:00Z' }),
      order(2, { due_at: '2026-03-01T09:50:00Z' }),
      order(3, { due_at: null, status: 'suspended' }),
      order(4, { due_at: '2026-03-01T09:00:00Z' }),
      order(5, { due_at: '2026-03-01T10:30:00Z', severity: 'red' }),
      order(6, { due_at: '2026-03-01T10:30:00Z', severity: 'blue' }),
    ]
    expect(list.sort((a, b) => boardOrder(a, b, NOW)).map((o) => o.id)).toEqual([4, 2, 5, 6, 1, 3])
  })
})

describe('OrderBoard', () => {
  it('keeps open orders only and follows live messages', () => {
    const board = new OrderBoard()
    board.reset([order(1), order(2, { status: 'closed' })])
    expect(board.size).toBe(1)
    expect(board.apply({ id: 3, incident_id: 30, status: 'dispatched', severity: 'red', due_at: null, sla_remaining_min: null })).toBe(true)
    expect(board.get(3)).toMatchObject({ severity: 'red', sla_remaining_minutes: null })
    expect(board.get(3)).not.toHaveProperty('sla_remaining_min')
    expect(board.apply({ id: 1, status: 'false_alarm' })).toBe(true)
    expect(board.get(1)).toBeUndefined()
  })

  it('merges partial messages into known orders and ignores unknown partial ones', () => {
    const board = new OrderBoard()
    board.reset([order(1)])
    expect(board.apply({ id: 1, assignee: null })).toBe(true)
    expect(board.get(1)).toMatchObject({ status: 'dispatched', assignee: null })
    expect(board.apply({ id: 9, assignee: 'officer2' })).toBe(false)
  })

  it('takes what a bulk answer says of an order', () => {
    const board = new OrderBoard()
    board.reset([order(1)])
    expect(board.applyBulk({ id: 1, ok: true, status: 'dispatched', assignee: 'officer2' })).toBe(true)
    expect(board.get(1)?.assignee).toBe('officer2')
    expect(board.applyBulk({ id: 1, ok: false, error: 'nope' })).toBe(false)
  })
})
