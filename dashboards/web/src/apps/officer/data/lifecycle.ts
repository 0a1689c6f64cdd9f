// What the officer may do next, as the hub's state machine allows an assignee (cloud_hub/workorders/state_machine.py).
// The hub's `allowed` list is the truth; this prediction is used only while actions wait in the outbox (offline), so
// the officer can accept, go on site and resolve in a row with no network.

export interface OrderStatus {
  status: string
  suspended_from: string | null
}

const ASSIGNEE_NEXT: Record<string, string[]> = {
  dispatched: ['accepted', 'suspended', 'false_alarm'],
  escalated: ['accepted', 'suspended', 'false_alarm'],
  accepted: ['on_site', 'suspended', 'false_alarm'],
  on_site: ['resolved', 'suspended', 'false_alarm'],
  returned: ['on_site', 'resolved', 'suspended'],
}

/** The statuses an assignee may move an order in `state` to. */
export function assigneeActions(state: OrderStatus): string[] {
  if (state.status === 'suspended') return state.suspended_from ? [state.suspended_from] : []
  return ASSIGNEE_NEXT[state.status] ?? []
}

/** The order's status after a transition to `to`. */
export function afterTransition(state: OrderStatus, to: string): OrderStatus {
  return to === 'suspended' ? { status: 'suspended', suspended_from: state.status } : { status: to, suspended_from: null }
}

/** Main action first (accept, on site, resolve, resume), then suspend, then false alarm. */
const ORDER = ['accepted', 'on_site', 'resolved', 'suspended', 'false_alarm']

export function sortActions(allowed: string[], state: OrderStatus): string[] {
  const rank = (s: string): number => (state.status === 'suspended' && s === state.suspended_from ? -1 : ORDER.indexOf(s) + (ORDER.includes(s) ? 0 : 99))
  return [...allowed].sort((a, b) => rank(a) - rank(b))
}
