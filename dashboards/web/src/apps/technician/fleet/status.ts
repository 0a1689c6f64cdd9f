// What the fleet list shows of a device, pure: status, camera health, versions, filters and order.
//
// The hub computes each device's status when it sends it (online / stale / offline / never_seen). A device that goes
// silent sends nothing more, so the browser also marks a device stale when no message about it has arrived for three
// of its health intervals since the last one: measured on the browser's own clock from when it heard the device, so
// a clock difference between browser, hub and box changes nothing.
import type { Schemas } from '@/api/client'

export type DeviceStatus = 'online' | 'stale' | 'offline' | 'never_seen'
export const STATUSES: DeviceStatus[] = ['online', 'stale', 'offline', 'never_seen']
const STALE_AFTER_INTERVALS = 3

export type DevicePublic = Schemas['DevicePublic']

export interface DeviceRow extends DevicePublic {
  /** When this browser last heard about the device (REST or live), ms on its own clock. */
  heardAt: number
}

export interface CameraHealth {
  camera_id: string
  status: string
  fps: number | null
  dropped_frames: number | null
}

export interface ModelRef {
  name: string
  sha256: string
  version?: string
}

type Json = Record<string, unknown>

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}

/** The hub's status, or `stale` when the device has been silent for three health intervals since we heard it. */
export function effectiveStatus(device: DeviceRow, now: number): DeviceStatus {
  const status = device.status as DeviceStatus
  if (status !== 'online') return status
  const interval = (device.health_interval_s || 30) * 1000
  return now - device.heardAt > STALE_AFTER_INTERVALS * interval ? 'stale' : 'online'
}

export function cameras(device: Pick<DevicePublic, 'health'>): CameraHealth[] {
  const list = (device.health as Json | null)?.cameras
  if (!Array.isArray(list)) return []
  return list
    .filter((c): c is Json => !!c && typeof c === 'object')
    .map((c) => ({
      camera_id: String(c.camera_id ?? '?'),
      status: String(c.status ?? 'unknown'),
      fps: num(c.fps),
      dropped_frames: num(c.dropped_frames),
    }))
}

export function healthNumber(device: Pick<DevicePublic, 'health'>, key: string): number | null {
  return num((device.health as Json | null)?.[key])
}

export function configError(device: Pick<DevicePublic, 'health'>): string | null {
  const error = (device.health as Json | null)?.config_error
  return typeof error === 'string' && error ? error : null
}

/** Models the device runs: from its health, else from the registry row. */
export function models(device: Pick<DevicePublic, 'health' | 'models'>): ModelRef[] {
  const fromHealth = (device.health as Json | null)?.models
  const list = Array.isArray(fromHealth) && fromHealth.length ? fromHealth : device.models ?? []
  return (list as Json[])
    .filter((m) => m && typeof m === 'object' && m.name)
    .map((m) => ({ name: String(m.name), sha256: String(m.sha256 ?? ''), ...(m.version ? { version: String(m.version) } : {}) }))
}

/** "yolox_nano 695e750a" for each model. */
export function modelLabel(model: ModelRef): string {
  return model.version ? `${model.name} ${model.version}` : `${model.name} ${model.sha256.slice(0, 8)}`
}

/** The version a box's `config_error` refers to ("version 7: config: cameras[0] ..."), or null. */
export function refusedVersion(error: string | null | undefined): number | null {
  const match = /^version (\d+):/.exec(error ?? '')
  return match ? Number(match[1]) : null
}

export type ConfigSync = 'none' | 'in_sync' | 'pending' | 'refused'

/** Desired (hub) against applied (box) configuration version. */
export function configSync(desired: number | null | undefined, applied: number | null | undefined, error: string | null): ConfigSync {
  if (desired === null || desired === undefined) return 'none'
  if (applied === desired) return 'in_sync'
  if (error && refusedVersion(error) === desired) return 'refused'
  return 'pending'
}

export interface FleetFilter {
  q: string
  statuses: DeviceStatus[]
  kind: '' | 'edge' | 'sensor'
  faultsOnly: boolean
}

export const EMPTY_FILTER: FleetFilter = { q: '', statuses: [], kind: '', faultsOnly: false }

export function matches(device: DeviceRow, filter: FleetFilter, now: number): boolean {
  if (filter.q && !device.device_id.toLowerCase().includes(filter.q.trim().toLowerCase())) return false
  if (filter.statuses.length && !filter.statuses.includes(effectiveStatus(device, now))) return false
  if (filter.kind && device.kind !== filter.kind) return false
  return !filter.faultsOnly || device.faults.length > 0
}

const ORDER: Record<DeviceStatus, number> = { offline: 0, stale: 1, never_seen: 2, online: 3 }

/** What needs a technician first: devices with faults, then offline, stale, never seen, online; then by id. */
export function compareDevices(a: DeviceRow, b: DeviceRow, now: number): number {
  const faults = Number(b.faults.length > 0) - Number(a.faults.length > 0)
  if (faults) return faults
  const status = ORDER[effectiveStatus(a, now)] - ORDER[effectiveStatus(b, now)]
  return status || a.device_id.localeCompare(b.device_id)
}

export function countByStatus(devices: DeviceRow[], now: number): Record<DeviceStatus, number> {
  const counts: Record<DeviceStatus, number> = { online: 0, stale: 0, offline: 0, never_seen: 0 }
  for (const d of devices) counts[effectiveStatus(d, now)]++
  return counts
}

/** A device row from a live `device` message's data (the registry row plus the hub's status and faults). */
export function mergeLive(previous: DeviceRow | undefined, data: Json, now: number): DeviceRow {
  const merged = { ...(previous ?? {}), ...data, heardAt: now } as DeviceRow
  merged.faults = Array.isArray(merged.faults) ? merged.faults : []
  return merged
}
