// One figure panel: fetched for the chosen time range, fetched again (debounced) when a live message of a topic
// that changes it arrives, and after a resync; never on a timer. `asOf` is what its DataAge shows.
import { computed, onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue'
import type { Topic } from '@/live/channel'
import { live } from '../live'
import { dataAsOf, debounce } from '../model/freshness'
import { resolveRange, type Span, type TimeRange } from '../model/timeRange'
import { errorText, onLive, reloadOnceLive } from './live'

const QUIET_MS = 1_500 // refetch once the channel has been quiet this long...
const AT_MOST_MS = 10_000 // ...or this long after the first message of a storm

export function useStatsPanel<T>(range: Ref<TimeRange>, topics: Topic[], load: (span: Span) => Promise<T>) {
  const data = shallowRef<T | null>(null)
  const span = shallowRef<Span>(resolveRange(range.value, Date.now()))
  const fetchedAt = ref<number | null>(null)
  const error = ref<string | null>(null)
  const loading = ref(false)
  const pending = ref(false)
  let generation = 0

  const started = reloadOnceLive(() => void refresh())

  async function refresh(): Promise<void> {
    started()
    const mine = ++generation
    pending.value = false
    loading.value = true
    const wanted = resolveRange(range.value, Date.now())
    try {
      const answer = await load(wanted)
      if (mine !== generation) return
      data.value = answer
      span.value = wanted
      fetchedAt.value = Date.now()
      error.value = null
    } catch (exc) {
      if (mine === generation) error.value = errorText(exc)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  const later = debounce(() => void refresh(), QUIET_MS, AT_MOST_MS)
  const soon = (): void => {
    pending.value = true
    later()
  }
  for (const topic of topics) onLive(topic, soon)
  onLive('resync', () => void refresh())
  onBeforeUnmount(() => later.cancel())
  watch(range, () => void refresh(), { deep: true })
  void refresh()

  const asOf = computed(() =>
    dataAsOf(fetchedAt.value, live.liveAt.value, live.state.value === 'live', pending.value || loading.value),
  )
  return { data, span, asOf, error, loading, refresh }
}
