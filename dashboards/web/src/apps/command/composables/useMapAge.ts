// The map's data age: as of its last load, or as of the live channel's last word while it is up.
import { computed, type Ref } from 'vue'
import { live } from '../live'
import { dataAsOf } from '../model/freshness'

export function useMapAge(fetchedAt: Ref<number | null>) {
  return computed(() => dataAsOf(fetchedAt.value, live.liveAt.value, live.state.value === 'live', false))
}
