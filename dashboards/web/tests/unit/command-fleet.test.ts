import { describe, expect, it } from 'vitest'
import { Fleet, deviceStatus, healthOf, type Camera, type Device } from '@/apps/command/model/fleet'

const NOW = Date.parse('2026-03-01T10:00:00Z')
const ago = (s: number): string => new Date(NOW - s * 1000).toISOString()

function camera(over: Partial<Camera> = {}): Camera {
  return {
    camera_id: 'cam-1',
    name: 'Gate',
    lon: 118.79,
    lat: 32.06,
    district: 'd1',
    grid_id: 'g1',
    device_id: 'edge-1',
    device_status: 'online',
    device_last_seen: ago(5),
    open_fault: false,
    fault_incident_id: null,
    fault_severity: null,
    ...over,
  }
}

describe('deviceStatus (the hub rule)', () => {
  it('tells never seen, offline, online and stale apart', () => {
    expect(deviceStatus({ device_id: 'd', online: false, last_seen: null, health: null }, NOW)).toBe('never_seen')
    expect(deviceStatus({ device_id: 'd', online: false, last_seen: ago(10), health: null }, NOW)).toBe('offline')
    expect(deviceStatus({ device_id: 'd', online: true, last_seen: ago(10), health: null }, NOW)).toBe('online')
    expect(deviceStatus({ device_id: 'd', online: true, last_seen: ago(91), health: null }, NOW)).toBe('stale')
    // The device's own interval: 60 s, so stale after 180 s.
    const health = { ts: ago(120), interval_s: 60 }
    expect(deviceStatus({ device_id: 'd', online: true, last_seen: ago(1), health }, NOW)).toBe('online')
  })

  it('maps status and fault to a health colour', () => {
    expect(healthOf('online')).toBe('ok')
    expect(healthOf('online', true)).toBe('warning')
    expect(healthOf('stale')).toBe('warning')
    expect(healthOf('offline', true)).toBe('down')
    expect(healthOf(null)).toBe('unknown')
  })
})

describe('Fleet', () => {
  it('updates a camera from its device going offline', () => {
    const fleet = new Fleet()
    fleet.reset([camera()], [])
    expect(fleet.mapCameras(NOW)[0].health).toBe('ok')
    expect(fleet.applyDevice('offline', { device_id: 'edge-1', kind: 'edge', online: false, last_seen: ago(3), health: null })).toBe(true)
    expect(fleet.mapCameras(NOW)[0]).toMatchObject({ status: 'offline', health: 'down' })
    expect(fleet.applyDevice('online', { device_id: 'edge-9', kind: 'edge', online: true, last_seen: null, health: null })).toBe(false)
    // A command's answer is no device row: it changes nothing.
    const answer = { device_id: 'edge-1', cmd_id: 'c1', ok: true } as unknown as Parameters<Fleet['applyDevice']>[1]
    expect(fleet.applyDevice('command', answer)).toBe(false)
    expect(fleet.mapCameras(NOW)[0].status).toBe('offline')
  })

  it('opens and closes a camera fault from camera_fault incidents', () => {
    const fleet = new Fleet()
    fleet.reset([camera()], [])
    expect(fleet.applyIncident({ id: 5, kind: 'camera_fault', status: 'open', camera_id: 'cam-1', severity: 'orange' })).toBe(true)
    expect(fleet.mapCameras(NOW)[0]).toMatchObject({ health: 'warning', camera: { open_fault: true, fault_incident_id: 5 } })
    expect(fleet.applyIncident({ id: 4, kind: 'camera_fault', status: 'closed', camera_id: 'cam-1' })).toBe(false) // older one
    expect(fleet.applyIncident({ id: 5, kind: 'camera_fault', status: 'ended', camera_id: 'cam-1' })).toBe(true)
    expect(fleet.mapCameras(NOW)[0].camera.open_fault).toBe(false)
    expect(fleet.applyIncident({ id: 6, kind: 'illegal_parking', status: 'open', camera_id: 'cam-1' })).toBe(false)
  })

  it('places sensors, including ones provisioned live', () => {
    const fleet = new Fleet()
    const sensor = { device_id: 's-1', kind: 'sensor', lon: 118.8, lat: 32.0, online: true, last_seen: ago(5), health: null } as Device
    fleet.reset([], [sensor])
    const s2 = { device_id: 's-2', kind: 'sensor', lon: 118.81, lat: 32.01, online: false, last_seen: null, health: null }
    expect(fleet.applyDevice('provisioned', s2)).toBe(true)
    expect(fleet.mapSensors(NOW).map((s) => [s.device_id, s.status])).toEqual([
      ['s-1', 'online'],
      ['s-2', 'never_seen'],
    ])
    expect(fleet.applyDevice('retired', s2)).toBe(true)
    expect(fleet.mapSensors(NOW).map((s) => s.device_id)).toEqual(['s-1'])
  })
})
