import { describe, expect, it } from 'vitest'
import {
  cameras,
  compareDevices,
  configSync,
  countByStatus,
  effectiveStatus,
  matches,
  mergeLive,
  modelLabel,
  models,
  refusedVersion,
  EMPTY_FILTER,
  type DeviceRow,
} from '@/apps/technician/fleet/status'

function device(over: Partial<DeviceRow> = {}): DeviceRow {
  return {
    device_id: 'edge-1',
    kind: 'edge',
    lon: null,
    lat: null,
    created_at: '2026-01-01T00:00:00Z',
    provisioned_at: '2026-01-01T00:00:00Z',
    online: true,
    last_seen: null,
    state_ts: null,
    agent_version: '1.4.0',
    config_version: 3,
    models: null,
    health: null,
    acked_seq: 0,
    status: 'online',
    health_at: null,
    health_interval_s: 30,
    faults: [],
    clock_skewed: false,
    heardAt: 0,
    ...over,
  }
}

describe('device status', () => {
  it("takes the hub's status, and marks a device stale after three silent intervals", () => {
    expect(effectiveStatus(device(), 89_000)).toBe('online')
    expect(effectiveStatus(device(), 91_000)).toBe('stale')
    expect(effectiveStatus(device({ health_interval_s: 5 }), 16_000)).toBe('stale')
    expect(effectiveStatus(device({ status: 'offline', online: false }), 0)).toBe('offline')
  })

  it('counts by status', () => {
    const list = [device(), device({ status: 'never_seen' }), device({ heardAt: -1e9 })]
    expect(countByStatus(list, 0)).toEqual({ online: 1, stale: 1, offline: 0, never_seen: 1 })
  })
})

describe('health', () => {
  const health = {
    cameras: [{ camera_id: 'cam-1', status: 'ok', fps: 2.0, dropped_frames: 0 }, { camera_id: 'cam-2', status: 'frozen' }],
    models: [{ name: 'yolox_nano', sha256: '695e750a0011' }],
  }

  it('lists cameras with fps and state', () => {
    expect(cameras(device({ health }))).toEqual([
      { camera_id: 'cam-1', status: 'ok', fps: 2, dropped_frames: 0 },
      { camera_id: 'cam-2', status: 'frozen', fps: null, dropped_frames: null },
    ])
    expect(cameras(device())).toEqual([])
  })

  it('names models by version or short hash', () => {
    expect(models(device({ health })).map(modelLabel)).toEqual(['yolox_nano 695e750a'])
    expect(models(device({ models: [{ name: 'm', sha256: 'abc', version: '0.2.0' }] })).map(modelLabel)).toEqual(['m 0.2.0'])
  })

  it('compares desired and applied configuration versions', () => {
    expect(configSync(null, 3, null)).toBe('none')
    expect(configSync(3, 3, null)).toBe('in_sync')
    expect(configSync(4, 3, null)).toBe('pending')
    expect(configSync(4, 3, 'version 4: config: cameras[0].zones: ...')).toBe('refused')
    expect(configSync(4, 3, 'version 40: ...')).toBe('pending')
    expect(refusedVersion('malformed: x')).toBeNull()
  })
})

describe('fleet list', () => {
  const list = [
    device({ device_id: 'edge-b' }),
    device({ device_id: 'edge-a', status: 'offline', online: false }),
    device({ device_id: 'sensor-1', kind: 'sensor' }),
    device({ device_id: 'edge-c', faults: ['camera cam-1: frozen'] }),
  ]

  it('filters by text, status, kind and faults', () => {
    const ids = (f: Partial<typeof EMPTY_FILTER>) => list.filter((d) => matches(d, { ...EMPTY_FILTER, ...f }, 0)).map((d) => d.device_id)
    expect(ids({ q: 'EDGE-' })).toEqual(['edge-b', 'edge-a', 'edge-c'])
    expect(ids({ statuses: ['offline'] })).toEqual(['edge-a'])
    expect(ids({ kind: 'sensor' })).toEqual(['sensor-1'])
    expect(ids({ faultsOnly: true })).toEqual(['edge-c'])
  })

  it('puts what needs a technician first', () => {
    expect([...list].sort((a, b) => compareDevices(a, b, 0)).map((d) => d.device_id)).toEqual(['edge-c', 'edge-a', 'edge-b', 'sensor-1'])
  })

  it('merges a live message into the row', () => {
    const merged = mergeLive(device(), { device_id: 'edge-1', config_version: 4, status: 'online', faults: ['x'] }, 42)
    expect(merged).toMatchObject({ config_version: 4, agent_version: '1.4.0', faults: ['x'], heardAt: 42 })
    expect(mergeLive(undefined, { device_id: 'new' }, 1).faults).toEqual([])
  })
})
