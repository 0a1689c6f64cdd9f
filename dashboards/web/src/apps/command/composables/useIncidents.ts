// Incidents under a filter, from GET /api/v1/incidents, kept current by live messages (never polled): what the
// overview map and the incident list show. Messages that arrive while a page is loading are applied after it, so
// a reload never rolls back what the channel already said.
import { computed, ref, shallowRef, watch, type Ref } from 'vue'
import { api, unwrap } from '@/api/client'
import type { LiveMessage } from '@/live/channel'
import { apiQuery } from '../model/filters'
import { IncidentSet, liveOrder, type Incident, type IncidentFilter, type IncidentSort } from '../model/incidents'
import { coalesce, errorText, onLive, reloadOnceLive } from './live'

export function useIncidents(filter: Ref<IncidentFilter>, sort: Ref<IncidentSort>, pageSize = 500) {
  const set = new IncidentSet(filter.value, sort.value)
  const version = ref(0)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const fetchedAt = ref<number | null>(null)
  const lastChange = shallowRef<{ id: number; change: string } | null>(null)
  let buffered: LiveMessage[] | null = null
  let generation = 0
  const repaint = coalesce(() => version.value++)

  function apply(message: LiveMessage): void {
    if (buffered) {
      buffered.push(message)
      return
    }
    const now = Date.now()
    const order = message.topic === 'work_order' ? liveOrder(message.data) : null
    const change = order ? set.applyWorkOrder(order, now) : message.topic === 'incident' ? set.applyIncident(message.data, now) : null
    if (!change) return
    if (message.topic === 'incident') lastChange.value = { id: Number(message.data.id), change }
    repaint()
  }

  async function fetchPage(offset: number) {
    const query = apiQuery(set.filter, set.sort, pageSize, offset)
    return unwrap(await api.GET('/api/v1/incidents', { params: { query } }))
  }

  const started = reloadOnceLive(() => void reload())

  async function reload(): Promise<void> {
    started()
    const mine = ++generation
    set.filter = filter.value
    set.sort = sort.value
    buffered = []
    loading.value = true
    try {
      const page = await fetchPage(0)
      if (mine !== generation) return
      set.reset(page.data, page.count)
      fetchedAt.value = Date.now()
      error.value = null
    } catch (exc) {
      if (mine === generation) error.value = errorText(exc)
    } finally {
      if (mine === generation) {
        loading.value = false
        const pending = buffered ?? []
        buffered = null
        pending.forEach(apply)
        version.value++
      }
    }
  }

  /** The next page (the list asks when its end scrolls into view). */
  async function loadMore(): Promise<void> {
    if (loading.value || set.size >= set.count) return
    const mine = generation
    loading.value = true
    try {
      const page = await fetchPage(set.size)
      if (mine === generation) set.append(page.data)
    } catch (exc) {
      error.value = errorText(exc)
    } finally {
      loading.value = false
      version.value++
    }
  }

  onLive('incident', apply)
  onLive('work_order', apply)
  onLive('resync', () => void reload())
  watch([filter, sort], () => void reload(), { deep: true })
  void reload()

  const items = computed<Incident[]>(() => (version.value, set.list()))
  const count = computed(() => (version.value, set.count))
  return { items, count, loading, error, fetchedAt, lastChange, reload, loadMore }
}
