// The fleet as this page knows it: every device the technician may see, loaded once from REST (pages of 1000) and
// then kept current by the live channel's `device` messages (each carries the whole row with the hub's status and
// faults). Screens read from here, so a box coming online shows everywhere at once. After `resync` (the hub could
// not replay what was missed) everything is loaded again.
import { reactive } from 'vue'
import { api, unwrap } from '@/api/client'
import type { LiveMessage } from '@/live/channel'
import { live } from '../live'
import { mergeLive, type DevicePublic, type DeviceRow } from './status'

const PAGE = 1000

export const fleet = reactive({
  devices: new Map<string, DeviceRow>(),
  /** Desired configuration version per device, as far as loaded (the device list does not carry it). */
  desired: new Map<string, number | null>(),
  loadedAt: null as number | null,
  loading: false,
  error: null as string | null,
})

type Listener = (device: DeviceRow, message: LiveMessage) => void
const listeners = new Set<Listener>()

/** Called for every live `device` message after the row is updated; returns the unsubscribe function. */
export function onDeviceMessage(listener: Listener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

function accept(rows: DevicePublic[], now: number): void {
  for (const row of rows) fleet.devices.set(row.device_id, { ...row, heardAt: now })
}

let loading: Promise<void> | null = null

export function loadFleet(): Promise<void> {
  loading ??= (async () => {
    fleet.loading = true
    fleet.error = null
    try {
      const seen = new Set<string>()
      for (let offset = 0; ; offset += PAGE) {
        const page = unwrap(await api.GET('/api/v1/devices', { params: { query: { limit: PAGE, offset } } }))
        accept(page.data, Date.now())
        page.data.forEach((d) => seen.add(d.device_id))
        if (offset + PAGE >= page.count || page.data.length === 0) break
      }
      for (const id of [...fleet.devices.keys()]) if (!seen.has(id)) fleet.devices.delete(id)
      fleet.loadedAt = Date.now()
    } catch (exc) {
      fleet.error = exc instanceof Error ? exc.message : String(exc)
    } finally {
      fleet.loading = false
      loading = null
    }
  })()
  return loading
}

/** One device, from the fleet when loaded, else from the hub. */
export async function loadDevice(deviceId: string): Promise<DeviceRow> {
  const row = unwrap(await api.GET('/api/v1/devices/{device_id}', { params: { path: { device_id: deviceId } } }))
  accept([row], Date.now())
  return fleet.devices.get(deviceId)!
}

const desiredQueue: string[] = []
let desiredRunning = 0
const DESIRED_PARALLEL = 3

/** Load the desired configuration version of a device (once; rows ask as they scroll into view). */
export function ensureDesired(deviceId: string): void {
  if (fleet.desired.has(deviceId) || desiredQueue.includes(deviceId)) return
  desiredQueue.push(deviceId)
  void drainDesired()
}

async function drainDesired(): Promise<void> {
  while (desiredRunning < DESIRED_PARALLEL && desiredQueue.length) {
    const deviceId = desiredQueue.shift()!
    desiredRunning++
    api
      .GET('/api/v1/devices/{device_id}/config', { params: { path: { device_id: deviceId } } })
      .then((result) => fleet.desired.set(deviceId, result.data?.desired?.version ?? null))
      .catch(() => undefined) // the row keeps showing "—"; the device screen says why
      .finally(() => {
        desiredRunning--
        void drainDesired()
      })
  }
}

/** After this page pushed version `version` to a device. */
export function setDesired(deviceId: string, version: number): void {
  fleet.desired.set(deviceId, version)
}

let started = false

/** Subscribe to the live channel once per page and load the fleet. */
export function startFleet(): void {
  if (started) return
  started = true
  live.on('device', (message) => {
    const data = message.data as Record<string, unknown>
    const id = String(data.device_id ?? '')
    if (!id) return
    const row = mergeLive(fleet.devices.get(id), data, Date.now())
    fleet.devices.set(id, row)
    // Someone else may have pushed a newer configuration that the box now runs.
    const desired = fleet.desired.get(id)
    if (typeof row.config_version === 'number' && typeof desired === 'number' && row.config_version > desired) {
      fleet.desired.set(id, row.config_version)
    }
    for (const listener of listeners) listener(row, message)
  })
  live.on('resync', () => {
    fleet.desired.clear()
    void loadFleet()
  })
  void loadFleet()
}
