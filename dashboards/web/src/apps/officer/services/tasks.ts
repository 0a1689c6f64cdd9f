// The task list and task details: shown from the IndexedDB cache at once, then from the hub, then kept current by the
// live channel (a new task arrives with no reload, and alerts the officer). Offline, the cached copy stays on screen
// with its age.
import { reactive } from 'vue'
import { api, unwrap, type Schemas } from '@/api/client'
import { session } from '@/auth/session'
import { i18n } from '@/i18n'
import { readCache, writeCache } from '../data/cache'
import { applyLive, mergeLists, SHOWN, type LiveWorkOrder, type Task } from '../data/taskList'
import { live } from '../live'
import { chime, notify, vibrate } from './alerts'

export type TaskDetail = Schemas['WorkOrderDetail']

const t = (i18n.global as unknown as { t: (key: string, values?: Record<string, unknown>) => string }).t
const PREFETCH = 20 // details kept ready for the most urgent tasks, for a task opened in a dead spot

export const taskState = reactive({
  tasks: [] as Task[],
  at: null as number | null, // when the hub last answered the list
  loading: false,
  failed: false, // the last load got no answer: the list is the cached copy
  arrived: new Set<number>(), // new since the app opened: highlighted until opened
})

const me = (): string => session.user?.username ?? ''
const listKey = (): string => `tasks:${me()}`
const detailKey = (id: number): string => `task:${me()}:${id}`

async function fetchList(): Promise<Task[]> {
  // Open orders only (the hub's `open` filter), so closed ones never crowd them out; then the statuses this list shows.
  const page = unwrap(await api.GET('/api/v1/work-orders', { params: { query: { open: true, sort: 'urgency', limit: 1000 } } }))
  const shown = new Set<string>(SHOWN)
  return mergeLists([page.data.filter((task) => shown.has(task.status))])
}

export async function loadTasks(): Promise<void> {
  if (taskState.at === null && taskState.tasks.length === 0) {
    const cached = await readCache<Task[]>(listKey())
    if (cached && taskState.at === null) {
      taskState.tasks = cached.value
      taskState.at = cached.at
    }
  }
  taskState.loading = true
  try {
    taskState.tasks = await fetchList()
    taskState.at = Date.now()
    taskState.failed = false
    void writeCache(listKey(), taskState.tasks, taskState.at)
    void prefetchDetails(taskState.tasks.slice(0, PREFETCH))
  } catch {
    taskState.failed = true
  } finally {
    taskState.loading = false
  }
}

function onWorkOrder(message: LiveWorkOrder): void {
  const { tasks, arrived } = applyLive(taskState.tasks, message, me())
  taskState.tasks = tasks
  taskState.at = Date.now()
  void writeCache(listKey(), tasks, taskState.at)
  if (arrived) {
    taskState.arrived = new Set([...taskState.arrived, arrived.id])
    announce(arrived)
  }
}

function announce(task: Task): void {
  chime()
  vibrate()
  const kind = t(`common.kinds.${task.kind}`)
  const severity = t(`common.severity.${task.severity}`)
  void notify(t('officer.alert.title'), t('officer.alert.body', { kind, severity, id: task.id }), `/officer/task/${task.id}`, `task-${task.id}`)
}

let stopFeed: (() => void) | null = null

/** Follow the live channel: work-order messages change the list; `resync` reloads it. */
export function startTaskFeed(): void {
  if (stopFeed) return
  const offOrder = live.on('work_order', (message) => onWorkOrder(message as unknown as LiveWorkOrder))
  const offResync = live.on('resync', () => void loadTasks())
  stopFeed = () => {
    offOrder()
    offResync()
  }
}

export function markSeen(id: number): void {
  if (!taskState.arrived.has(id)) return
  const next = new Set(taskState.arrived)
  next.delete(id)
  taskState.arrived = next
}

export async function cachedDetail(id: number): Promise<{ detail: TaskDetail; at: number } | null> {
  const cached = await readCache<TaskDetail>(detailKey(id))
  return cached ? { detail: cached.value, at: cached.at } : null
}

/** The detail from the hub (and cached); throws ApiError or a network error. */
export async function fetchDetail(id: number): Promise<TaskDetail> {
  const detail = unwrap(await api.GET('/api/v1/work-orders/{order_id}', { params: { path: { order_id: id } } }))
  rememberDetail(detail)
  return detail
}

/** Keep a detail the hub sent (e.g. a transition's answer) and its row in the list current. */
export function rememberDetail(detail: TaskDetail): void {
  void writeCache(detailKey(detail.id), detail)
  const index = taskState.tasks.findIndex((task) => task.id === detail.id)
  if (index >= 0) {
    const row: Task = { ...taskState.tasks[index] }
    for (const key of Object.keys(row) as Array<keyof Task>) {
      if (key in detail) (row as Record<string, unknown>)[key] = detail[key as keyof TaskDetail]
    }
    onWorkOrder({ op: 'transition', data: { work_order: row, steps: [{ actor: me() }] } })
  }
}

async function prefetchDetails(tasks: Task[]): Promise<void> {
  for (const task of tasks) {
    const cached = await readCache<TaskDetail>(detailKey(task.id))
    if (cached && cached.value.updated_at === task.updated_at) continue
    try {
      await fetchDetail(task.id)
    } catch {
      return // offline again: try with the next list
    }
  }
}
