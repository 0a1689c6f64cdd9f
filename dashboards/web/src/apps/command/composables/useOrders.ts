// The SLA board's open work orders (GET /api/v1/work-orders, one request per open status: the list takes one
// status at a time), kept current by `work_order` messages.
import { computed, ref } from 'vue'
import { api, unwrap } from '@/api/client'
import { useNow } from '@/shared/time'
import { liveOrder, type LiveWorkOrder } from '../model/incidents'
import { OrderBoard, type Order } from '../model/orders'
import { coalesce, errorText, onLive, reloadOnceLive } from './live'

export function useOrders() {
  const board = new OrderBoard()
  const version = ref(0)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const fetchedAt = ref<number | null>(null)
  const now = useNow(1_000)
  const repaint = coalesce(() => version.value++)
  let buffered: LiveWorkOrder[] | null = null

  function apply(order: LiveWorkOrder): void {
    if (buffered) buffered.push(order)
    else if (board.apply(order)) repaint()
  }

  const started = reloadOnceLive(() => void reload())

  async function reload(): Promise<void> {
    started()
    buffered = []
    loading.value = true
    try {
      const page = unwrap(await api.GET('/api/v1/work-orders', { params: { query: { open: true, sort: 'due', limit: 1000 } } }))
      board.reset(page.data as Order[])
      fetchedAt.value = Date.now()
      error.value = null
    } catch (exc) {
      error.value = errorText(exc)
    } finally {
      loading.value = false
      const pending = buffered ?? []
      buffered = null
      pending.forEach((o) => board.apply(o))
      version.value++
    }
  }

  onLive('work_order', (m) => {
    const order = liveOrder(m.data)
    if (order) apply(order)
  })
  onLive('resync', () => void reload())
  void reload()

  // Re-sorted every 30 s rather than every second: rows do not jump about while someone is picking them.
  const sortTick = computed(() => Math.floor(now.value / 30_000))
  const orders = computed(() => (version.value, sortTick.value, board.list(Date.now())))
  return { board, orders, now, loading, error, fetchedAt, reload, repaint: () => version.value++ }
}
