// One task's detail for the task screen: from the cache at once, then from the hub; reloaded when the live channel
// says the order changed, replaced by a transition's answer when the outbox delivers one; and, while actions of this
// order wait in the outbox, the status and next actions as they will be once those actions arrive.
import { computed, onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { ApiError } from '@/api/client'
import { session } from '@/auth/session'
import { afterTransition, assigneeActions, sortActions, type OrderStatus } from '../../data/lifecycle'
import { live } from '../../live'
import { onSent, outboxView } from '../../services/outbox'
import { cachedDetail, fetchDetail, rememberDetail, type TaskDetail } from '../../services/tasks'

export function useTaskDetail(orderId: Ref<number>) {
  const detail = ref<TaskDetail | null>(null)
  const at = ref<number | null>(null)
  const offline = ref(false) // the hub could not be reached: showing the cached copy (if any)
  const missing = ref<string | null>(null) // the hub says no (404/403): the reason
  const loading = ref(false)

  async function load(): Promise<void> {
    const id = orderId.value
    loading.value = true
    if (!detail.value || detail.value.id !== id) {
      const cached = await cachedDetail(id)
      if (cached && orderId.value === id) {
        detail.value = cached.detail
        at.value = cached.at
      }
    }
    try {
      const fresh = await fetchDetail(id)
      if (orderId.value !== id) return
      detail.value = fresh
      at.value = Date.now()
      offline.value = false
      missing.value = null
    } catch (exc) {
      if (exc instanceof ApiError && exc.status < 500 && exc.status !== 401) missing.value = exc.message
      else offline.value = true
    } finally {
      loading.value = false
    }
  }

  const offLive = live.on('work_order', (message) => {
    const row = (message.data as { work_order?: { id?: number } }).work_order
    if (row?.id === orderId.value) void load()
  })
  const offResync = live.on('resync', () => void load())
  const offSent = onSent((item, result) => {
    if (item.orderId !== orderId.value) return
    if (item.kind === 'transition' && result.body) {
      detail.value = result.body as TaskDetail
      at.value = Date.now()
      rememberDetail(detail.value)
    } else {
      void load() // a photo: the order's photo list changed
    }
  })
  onBeforeUnmount(() => {
    offLive()
    offResync()
    offSent()
  })
  watch(orderId, () => void load(), { immediate: true })

  const queued = computed(() => outboxView.items.filter((item) => item.orderId === orderId.value))
  const pendingTransitions = computed(() =>
    queued.value.filter((item) => item.kind === 'transition' && item.state === 'pending' && item.to),
  )
  // A refusal (e.g. 409: someone else moved the order) means this copy is out of date.
  watch(
    () => queued.value.filter((item) => item.state === 'failed').length,
    (failed, before) => {
      if (failed > before) void load()
    },
  )

  /** Status once the queued transitions arrive. */
  const status = computed<OrderStatus | null>(() => {
    if (!detail.value) return null
    let state: OrderStatus = { status: detail.value.status, suspended_from: detail.value.suspended_from }
    for (const item of pendingTransitions.value) state = afterTransition(state, item.to as string)
    return state
  })

  /** What the officer may do now: the hub's answer, or the prediction while transitions are queued. */
  const actions = computed<string[]>(() => {
    if (!detail.value || !status.value) return []
    const mine = detail.value.assignee === session.user?.username
    const allowed = pendingTransitions.value.length ? (mine ? assigneeActions(status.value) : []) : detail.value.allowed
    return sortActions(allowed.filter((to) => to !== 'reassigned' && to !== 'escalated' && to !== 'registered'), status.value)
  })

  return { detail, at, offline, missing, loading, load, queued, pendingTransitions, status, actions }
}
