// The officer's task list as plain data: which orders it shows, in which order, and how a live message changes it.
import type { Schemas } from '@/api/client'

export type Task = Schemas['WorkOrderPublic']

/** Orders still in the officer's hands, then those waiting (suspended) or waiting for someone else (resolved). */
export const ACTIVE = ['dispatched', 'accepted', 'on_site', 'returned', 'escalated'] as const
export const SHOWN = [...ACTIVE, 'suspended', 'resolved'] as const

const SEVERITY_RANK: Record<string, number> = { red: 0, orange: 1, yellow: 2, blue: 3 }

function group(task: Task): number {
  if (task.status === 'resolved') return 2
  return task.status === 'suspended' ? 1 : 0
}

/** Most urgent first: what needs the officer now, then the most urgent colour, then the nearest deadline. */
export function compareUrgency(a: Task, b: Task): number {
  const byGroup = group(a) - group(b)
  if (byGroup) return byGroup
  const bySeverity = (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9)
  if (bySeverity) return bySeverity
  const dueA = a.due_at ? Date.parse(a.due_at) : Infinity
  const dueB = b.due_at ? Date.parse(b.due_at) : Infinity
  if (dueA !== dueB) return dueA < dueB ? -1 : 1
  return a.id - b.id
}

export function isShown(task: Pick<Task, 'status'>): boolean {
  return (SHOWN as readonly string[]).includes(task.status)
}

/** Lists of one status each (the hub's list filters one status at a time), merged into one sorted list. */
export function mergeLists(lists: Task[][]): Task[] {
  const byId = new Map<number, Task>()
  for (const task of lists.flat()) {
    const known = byId.get(task.id)
    if (!known || Date.parse(task.updated_at) >= Date.parse(known.updated_at)) byId.set(task.id, task)
  }
  return [...byId.values()].filter(isShown).sort(compareUrgency)
}

export interface LiveWorkOrder {
  op: string
  data: { work_order?: Partial<Task> & { id: number }; steps?: Array<{ actor?: string | null }> }
}

export interface LiveOutcome {
  tasks: Task[]
  /** An order that entered the list because of someone else (a new task for the officer): alert them. */
  arrived: Task | null
}

function asTask(row: Partial<Task> & { id: number }): Task | null {
  const required = ['incident_id', 'kind', 'severity', 'status', 'created_at', 'updated_at'] as const
  if (required.some((field) => row[field] === undefined || row[field] === null)) return null
  return {
    subtype: null,
    assignee: null,
    handled_by: null,
    suspended_from: null,
    grid_id: null,
    district: null,
    due_at: null,
    ...row,
    sla_remaining_minutes: row.sla_remaining_minutes ?? (row as { sla_remaining_min?: number | null }).sla_remaining_min ?? null,
  } as Task
}

/** The list after a `work_order` live message (ops: created, transition, updated, unassigned, photo). */
export function applyLive(tasks: Task[], message: LiveWorkOrder, me: string): LiveOutcome {
  const row = message.data.work_order
  if (!row) return { tasks, arrived: null }
  const rest = tasks.filter((t) => t.id !== row.id)
  const known = rest.length !== tasks.length
  if (message.op === 'unassigned') return { tasks: rest, arrived: null }
  const task = asTask(row)
  if (!task) return { tasks, arrived: null } // not a whole row: nothing to go by
  if (!isShown(task)) return { tasks: rest, arrived: null }
  const byMe = (message.data.steps ?? []).some((step) => step.actor === me)
  const moved = message.op === 'created' || message.op === 'transition' // not a photo or a deadline change
  const arrived = moved && !known && !byMe && (ACTIVE as readonly string[]).includes(task.status) ? task : null
  return { tasks: [...rest, task].sort(compareUrgency), arrived }
}
