// The SLA board's open work orders, kept current by `work_order` messages. Pure.
import type { Schemas } from '@/api/client'
import { isOverdue, severityRank, type LiveWorkOrder } from './incidents'

export type Order = Schemas['WorkOrderPublic']
export type BulkAction = Schemas['WorkOrderBulkRequest']['action']

// "Open": someone still has to act (cloud_hub.workorders.state_machine.OPEN).
export const OPEN_STATUSES = [
  'reported',
  'registered',
  'dispatched',
  'accepted',
  'on_site',
  'resolved',
  'returned',
  'reassigned',
  'escalated',
  'suspended',
] as const

export function isOpen(status: string): boolean {
  return (OPEN_STATUSES as readonly string[]).includes(status)
}

/** Overdue ones first (most overdue first), then by nearest deadline, orders without one last; severity breaks ties. */
export function boardOrder(a: Order, b: Order, now: number): number {
  const lateA = isOverdue(a.status, a.due_at, now)
  const lateB = isOverdue(b.status, b.due_at, now)
  if (lateA !== lateB) return lateA ? -1 : 1
  const dueA = a.due_at ? Date.parse(a.due_at) : Infinity
  const dueB = b.due_at ? Date.parse(b.due_at) : Infinity
  if (dueA !== dueB) return dueA < dueB ? -1 : 1
  return severityRank(a.severity) - severityRank(b.severity) || a.id - b.id
}

/** The live message's row as the API's shape (the column is sla_remaining_min there, _minutes here). */
function orderFromLive(data: LiveWorkOrder, previous?: Order): Order | null {
  const merged = { ...previous, ...data } as Order & { sla_remaining_min?: number | null }
  if ('sla_remaining_min' in data) merged.sla_remaining_minutes = data.sla_remaining_min as number | null
  delete merged.sla_remaining_min
  return merged.status && merged.incident_id !== undefined ? merged : null
}

export class OrderBoard {
  private byId = new Map<number, Order>()

  reset(orders: Order[]): void {
    this.byId = new Map(orders.filter((o) => isOpen(o.status)).map((o) => [o.id, o]))
  }

  get(id: number): Order | undefined {
    return this.byId.get(id)
  }

  /** A `work_order` message's order; true when the board changed. Closed ones leave the board. */
  apply(data: LiveWorkOrder): boolean {
    const previous = this.byId.get(data.id)
    const order = orderFromLive(data, previous)
    if (!order) return false
    if (!isOpen(order.status)) return this.byId.delete(order.id)
    this.byId.set(order.id, order)
    return true
  }

  /** What a bulk answer says of an order, before its live message arrives. */
  applyBulk(item: Schemas['WorkOrderBulkItem']): boolean {
    const previous = this.byId.get(item.id)
    if (!item.ok || !previous || !item.status) return false
    return this.apply({ id: item.id, status: item.status, assignee: item.assignee ?? null })
  }

  list(now: number): Order[] {
    return [...this.byId.values()].sort((a, b) => boardOrder(a, b, now))
  }

  get size(): number {
    return this.byId.size
  }
}
