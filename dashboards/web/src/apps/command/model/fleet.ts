// Cameras and sensors on the map, coloured by health, kept current by `device` messages (a device's state) and
// `incident` messages of kind camera_fault (a camera's open fault). Pure; the status rule is the hub's
// (cloud_hub.devices.status.device_status), so a device that goes quiet turns stale here too without a message.
import type { Schemas } from '@/api/client'

export type Camera = Schemas['CameraMapItem']
export type Device = Schemas['DevicePublic']
export type DeviceStatus = Schemas['DeviceStatus']
export type Health = 'ok' | 'warning' | 'down' | 'unknown'

/** What the hub stores of a device and sends in `device` messages. */
export interface DeviceState {
  device_id: string
  kind?: string
  online: boolean
  last_seen: string | null
  health: Record<string, unknown> | null
  lon?: number | null
  lat?: number | null
}

const ROW_OPS: ReadonlySet<string> = new Set(['provisioned', 'online', 'offline', 'health', 'retired'])
const DEFAULT_HEALTH_INTERVAL_S = 30
const STALE_AFTER_INTERVALS = 3

function intervalS(health: Record<string, unknown> | null): number {
  for (const key of ['health_interval_s', 'interval_s']) {
    const value = health?.[key]
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value
  }
  return DEFAULT_HEALTH_INTERVAL_S
}

export function deviceStatus(state: DeviceState, now: number): DeviceStatus {
  if (!state.online) return state.last_seen === null && state.health === null ? 'never_seen' : 'offline'
  const ts = typeof state.health?.ts === 'string' ? Date.parse(state.health.ts) : NaN
  const at = Number.isNaN(ts) ? (state.last_seen ? Date.parse(state.last_seen) : NaN) : ts
  if (Number.isNaN(at)) return 'online'
  return now - at > STALE_AFTER_INTERVALS * intervalS(state.health) * 1000 ? 'stale' : 'online'
}

export function healthOf(status: DeviceStatus | null | undefined, fault = false): Health {
  if (status === 'offline') return 'down'
  if (fault || status === 'stale') return 'warning'
  if (status === 'online') return 'ok'
  return 'unknown'
}

export interface MapCamera {
  camera: Camera
  status: DeviceStatus | null
  health: Health
}

export interface MapSensor {
  device_id: string
  lon: number
  lat: number
  status: DeviceStatus
  health: Health
}

/** The fleet as the map shows it: cameras (from /cameras/map) and placed sensors (from /devices?kind=sensor). */
export class Fleet {
  private cameras = new Map<string, Camera>()
  private cameraDevices = new Set<string>() // devices with a camera on the map: only their messages matter
  private states = new Map<string, DeviceState>() // devices heard of live, or loaded with their full state

  reset(cameras: Camera[], sensors: Device[]): void {
    this.cameras = new Map(cameras.map((c) => [c.camera_id, c]))
    this.cameraDevices = new Set(cameras.flatMap((c) => (c.device_id ? [c.device_id] : [])))
    this.states = new Map(sensors.map((s) => [s.device_id, { ...s, kind: s.kind }]))
  }

  /** A `device` message (op provisioned, online, offline, health or retired carry the device's row; command
   * answers do not); true when something on the map may change. */
  applyDevice(op: string, state: DeviceState): boolean {
    if (!ROW_OPS.has(op)) return false
    if (op === 'retired') return this.states.delete(state.device_id)
    const known = this.states.has(state.device_id) || this.cameraDevices.has(state.device_id)
    if (!known && state.kind !== 'sensor') return false
    this.states.set(state.device_id, { ...this.states.get(state.device_id), ...state })
    return true
  }

  /** An `incident` message: camera faults open and close a camera's fault flag. */
  applyIncident(incident: { id: number; kind: string; status: string; camera_id?: string | null; severity?: string }): boolean {
    if (incident.kind !== 'camera_fault' || !incident.camera_id) return false
    const camera = this.cameras.get(incident.camera_id)
    if (!camera) return false
    if (incident.status === 'open') {
      this.cameras.set(camera.camera_id, {
        ...camera,
        open_fault: true,
        fault_incident_id: incident.id,
        fault_severity: incident.severity ?? camera.fault_severity,
      })
      return true
    }
    if (camera.fault_incident_id !== incident.id) return false
    this.cameras.set(camera.camera_id, { ...camera, open_fault: false, fault_incident_id: null, fault_severity: null })
    return true
  }

  mapCameras(now: number): MapCamera[] {
    return [...this.cameras.values()].map((camera) => {
      const state = camera.device_id ? this.states.get(camera.device_id) : undefined
      const status = state ? deviceStatus(state, now) : camera.device_status
      return { camera, status, health: healthOf(status, camera.open_fault) }
    })
  }

  mapSensors(now: number): MapSensor[] {
    const out: MapSensor[] = []
    for (const state of this.states.values()) {
      if (state.kind !== 'sensor' || state.lon == null || state.lat == null) continue
      const status = deviceStatus(state, now)
      out.push({ device_id: state.device_id, lon: state.lon, lat: state.lat, status, health: healthOf(status) })
    }
    return out.sort((a, b) => a.device_id.localeCompare(b.device_id))
  }
}
