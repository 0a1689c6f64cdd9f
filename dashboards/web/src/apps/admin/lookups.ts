// Lists the pickers share across screens (districts); reloaded after a district changes.
import { shallowRef } from 'vue'
import { listDistricts, type District } from './hub'

const districts = shallowRef<District[]>([])
let loading: Promise<void> | null = null

async function reload(): Promise<void> {
  districts.value = (await listDistricts(null, { limit: 1000, offset: 0 })).data
}

export function useDistricts(): { districts: typeof districts; ensure: () => Promise<void>; reload: () => Promise<void> } {
  return {
    districts,
    ensure: () => (loading ??= reload().catch(() => void (loading = null))),
    reload: () => (loading = reload()),
  }
}
