// Cameras (GET /api/v1/cameras/map) and placed sensors (GET /api/v1/devices?kind=sensor) with their health, kept
// current by `device` and camera-fault `incident` messages; re-evaluated every 15 s so a device that went quiet
// turns stale on the map as it does in the hub.
import { computed, ref } from 'vue'
import { api, unwrap } from '@/api/client'
import type { DeviceState } from '../model/fleet'
import { Fleet } from '../model/fleet'
import { useNow } from '@/shared/time'
import { coalesce, errorText, onLive, reloadOnceLive } from './live'

export function useFleet() {
  const fleet = new Fleet()
  const version = ref(0)
  const error = ref<string | null>(null)
  const fetchedAt = ref<number | null>(null)
  const now = useNow(15_000)
  const repaint = coalesce(() => version.value++)

  const started = reloadOnceLive(() => void reload())

  async function reload(): Promise<void> {
    started()
    try {
      const [cameras, sensors] = await Promise.all([
        api.GET('/api/v1/cameras/map', { params: { query: { limit: 5000 } } }).then(unwrap),
        api.GET('/api/v1/devices', { params: { query: { kind: 'sensor', limit: 1000 } } }).then(unwrap),
      ])
      fleet.reset(cameras.data, sensors.data)
      fetchedAt.value = Date.now()
      error.value = null
      version.value++
    } catch (exc) {
      error.value = errorText(exc)
    }
  }

  onLive('device', (m) => fleet.applyDevice(m.op, m.data as unknown as DeviceState) && repaint())
  onLive('incident', (m) => fleet.applyIncident(m.data as Parameters<Fleet['applyIncident']>[0]) && repaint())
  onLive('resync', () => void reload())
  void reload()

  const cameras = computed(() => (version.value, fleet.mapCameras(now.value)))
  const sensors = computed(() => (version.value, fleet.mapSensors(now.value)))
  return { cameras, sensors, error, fetchedAt, reload }
}
