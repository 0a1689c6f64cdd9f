import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { History } from '@/apps/technician/zones/history'
import {
  addZone,
  canonicalJson,
  fromCamera,
  locateError,
  removeZone,
  toCamera,
  withCamera,
  zoneIdProblems,
  type AnalyticType,
} from '@/apps/technician/zones/model'
import { gaugeFields, ruleDefaults, ruleFields, withinLimits } from '@/apps/technician/zones/schemaFields'

// The real schema the hub serves (generated from the edge agent's models): the form must keep up with it.
const schema = JSON.parse(readFileSync(resolve(__dirname, '../../../../rules/schema/camera-rules.schema.json'), 'utf8'))
const defaults = (type: AnalyticType) => ruleDefaults(schema, type)

// rules/edge/demo-street.yaml as a camera entry of the hub's desired configuration.
const demo = {
  camera_id: 'cam-demo-01',
  version: 1,
  zones: [{ id: 'zone-a', name: 'Lakeside road kerb', polygon: [[0.24, 0.28], [0.84, 0.28], [0.84, 0.385], [0.24, 0.385]] }],
  analytics: [
    {
      type: 'parking',
      id: 'parking.no_parking',
      version: 1,
      zones: ['zone-a'],
      classes: ['car', 'truck', 'bus', 'motorcycle'],
      min_confidence: 0.35,
      dwell_s: 10,
      update_every_s: 30,
      leave_after_s: 5,
    },
  ],
}

const water = {
  camera_id: 'cam-river',
  version: 4,
  source: 'rtsp://10.0.0.7/main',
  zones: [{ id: 'road', polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]] }],
  analytics: [
    {
      type: 'waterlogging',
      id: 'waterlogging',
      version: 2,
      zones: ['road'],
      gauge: { id: 'gauge', polygon: [[0.1, 0.1], [0.15, 0.1], [0.15, 0.6], [0.1, 0.6]], marks: [{ y: 0.2, cm: 80 }, { y: 0.5, cm: 20 }], min_contrast: 30 },
    },
  ],
}

describe('camera rules <-> editor zones', () => {
  it('gives each zone its rule and kind, and round-trips unchanged', () => {
    const loaded = fromCamera(demo)
    expect(loaded.version).toBe(1)
    expect(loaded.state.zones).toMatchObject([{ id: 'zone-a', kind: 'parking', ruleKey: 'r0', name: 'Lakeside road kerb' }])
    expect(loaded.state.rules[0]).toMatchObject({ type: 'parking', id: 'parking.no_parking', settings: { dwell_s: 10 } })
    const out = toCamera('cam-demo-01', loaded.state, loaded)
    expect(out.changed).toBe(false)
    expect(canonicalJson(out.camera)).toBe(canonicalJson(demo))
  })

  it('keeps a gauge with its marks and other fields, and the camera fields of an added camera', () => {
    const loaded = fromCamera(water)
    const gauge = loaded.state.zones.find((z) => z.kind === 'gauge')!
    expect(gauge.marks).toEqual([{ y: 0.2, cm: 80 }, { y: 0.5, cm: 20 }])
    expect(loaded.state.zones.find((z) => z.id === 'road')!.kind).toBe('water_road')
    const out = toCamera('cam-river', loaded.state, loaded)
    expect(out.changed).toBe(false)
    expect(canonicalJson(out.camera)).toBe(canonicalJson(water))
    expect(out.map.gauges).toEqual({ 0: gauge.key })
  })

  it('raises the versions of what changed, with 4-decimal coordinates', () => {
    const loaded = fromCamera(demo)
    const state = structuredClone(loaded.state)
    state.zones[0].points[0] = [0.123456, 0.28]
    const out = toCamera('cam-demo-01', state, loaded)
    expect(out.changed).toBe(true)
    expect(out.camera.version).toBe(2)
    const analytics = out.camera.analytics as Array<Record<string, unknown>>
    expect(analytics[0].version).toBe(2)
    expect((out.camera.zones as Array<{ polygon: number[][] }>)[0].polygon[0]).toEqual([0.1235, 0.28])
  })

  it('gives a new area its own rule with the schema defaults', () => {
    const loaded = fromCamera(demo)
    const { state, zone } = addZone(loaded.state, 'parking', [[0.1, 0.5], [0.3, 0.5], [0.3, 0.7]], defaults)
    expect(zone.id).toBe('no-parking-1')
    const rule = state.rules.find((r) => r.key === zone.ruleKey)!
    expect(rule).toMatchObject({ type: 'parking', id: 'parking.no-parking-1', version: 1 })
    expect(rule.settings).toMatchObject({ dwell_s: 60, min_confidence: 0.35, classes: ['car', 'truck', 'bus', 'motorcycle'] })
    const out = toCamera('cam-demo-01', state, loaded)
    const analytics = out.camera.analytics as Array<Record<string, unknown>>
    expect(analytics.map((a) => [a.id, a.version, a.zones])).toEqual([
      ['parking.no_parking', 1, ['zone-a']],
      ['parking.no-parking-1', 1, ['no-parking-1']],
    ])
    expect(out.camera.version).toBe(2)
  })

  it('puts road regions and a gauge into one waterlogging rule', () => {
    let state = fromCamera(null).state
    state = addZone(state, 'water_road', [[0, 0.5], [1, 0.5], [1, 1]], defaults).state
    const added = addZone(state, 'gauge', [[0.1, 0.1], [0.2, 0.1], [0.2, 0.5], [0.1, 0.5]], defaults)
    state = added.state
    expect(state.rules).toHaveLength(1)
    expect(added.zone.marks).toEqual([{ y: 0.2, cm: 50 }, { y: 0.4, cm: 10 }])
    const out = toCamera('cam-new', state, fromCamera(null))
    const analytic = (out.camera.analytics as Array<Record<string, unknown>>)[0]
    expect(analytic).toMatchObject({ type: 'waterlogging', id: 'waterlogging', zones: ['road-1'] })
    expect(analytic.gauge).toMatchObject({ id: 'gauge-1', marks: [{ y: 0.2, cm: 50 }, { y: 0.4, cm: 10 }] })
    expect(out.camera.zones).toEqual([{ id: 'road-1', polygon: [[0, 0.5], [1, 0.5], [1, 1]] }])
    expect(out.camera.version).toBe(1)
  })

  it('drops a rule with its last zone', () => {
    const loaded = fromCamera(demo)
    const state = removeZone(loaded.state, loaded.state.zones[0].key)
    expect(state).toEqual({ zones: [], rules: [] })
  })

  it('flags malformed and repeated zone ids', () => {
    const loaded = fromCamera(demo)
    let state = addZone(loaded.state, 'kitchen', [[0, 0], [1, 0], [1, 1]], defaults).state
    state.zones[1].id = 'zone-a'
    state = addZone(state, 'kitchen', [[0, 0], [1, 0], [1, 1]], defaults).state
    state.zones[2].id = 'bad id'
    expect(zoneIdProblems(state)).toEqual({ [state.zones[0].key]: 'duplicate', [state.zones[1].key]: 'duplicate', [state.zones[2].key]: 'pattern' })
  })

  it('replaces only its camera in the desired configuration', () => {
    const config = { version: 7, cameras: [{ camera_id: 'a', version: 1 }, { camera_id: 'b', version: 3 }] }
    expect(withCamera(config, { camera_id: 'b', version: 4 })).toEqual({
      config: { cameras: [{ camera_id: 'a', version: 1 }, { camera_id: 'b', version: 4 }] },
      cameraIndex: 1,
    })
    expect(withCamera(null, { camera_id: 'c' })).toEqual({ config: { cameras: [{ camera_id: 'c' }] }, cameraIndex: 0 })
  })
})

describe("the hub's validation errors, next to their field", () => {
  const loaded = fromCamera(water)
  const { map } = toCamera('cam-river', loaded.state, loaded)
  const gaugeKey = loaded.state.zones.find((z) => z.kind === 'gauge')!.key

  it.each([
    ['$.cameras[1].zones[0].polygon[2][0]', { zoneKey: 'z0', field: 'polygon' }],
    ['$.cameras[1].analytics[0].depth_start_cm', { ruleKey: 'r0', field: 'depth_start_cm' }],
    ['$.cameras[1].analytics[0].gauge.marks[1].cm', { zoneKey: gaugeKey, ruleKey: 'r0', field: 'gauge.marks' }],
    ['$.cameras[1].version', { field: 'version' }],
    ['$.cameras[0].zones[0].polygon', null],
  ])('%s', (path, place) => {
    expect(locateError(path, map, 1)).toEqual(place)
  })
})

describe('rule settings form from the JSON Schema', () => {
  it('knows the fields of each analytic with their limits', () => {
    const parking = ruleFields(schema, 'parking')
    const names = parking.map((f) => f.name)
    expect(names).toEqual(expect.arrayContaining(['dwell_s', 'classes', 'min_confidence', 'leave_after_s', 'windows', 'plates']))
    expect(names).not.toContain('zones')
    const dwell = parking.find((f) => f.name === 'dwell_s')!
    expect(dwell).toMatchObject({ kind: 'number', min: 0, exclusiveMin: true, default: 60 })
    expect(withinLimits(dwell, 0)).toBe(false)
    expect(withinLimits(dwell, 0.5)).toBe(true)
    expect(parking.find((f) => f.name === 'classes')!.kind).toBe('tags')
    expect(parking.find((f) => f.name === 'plates')!).toMatchObject({ kind: 'object', children: [{ name: 'read', kind: 'boolean' }, { name: 'blur', kind: 'boolean' }] })
    expect(parking.find((f) => f.name === 'timezone')!).toMatchObject({ kind: 'string', nullable: true })
    expect(parking.find((f) => f.name === 'windows')!.kind).toBe('json')
    const water = ruleFields(schema, 'waterlogging')
    expect(water.find((f) => f.name === 'smooth_frames')!).toMatchObject({ kind: 'integer', min: 1, max: 100 })
    expect(water.map((f) => f.name)).not.toContain('gauge')
    expect(gaugeFields(schema).map((f) => f.name)).toEqual(['top_cm', 'bottom_cm', 'min_contrast'])
    expect(ruleFields(schema, 'kitchen').find((f) => f.name === 'class_roles')!.kind).toBe('json')
  })

  it('writes out the simple defaults of a new rule', () => {
    expect(ruleDefaults(schema, 'road_occupation')).toMatchObject({ dwell_s: 300, leave_after_s: 30, holidays: [] })
    expect(ruleDefaults(schema, 'parking')).not.toHaveProperty('windows')
  })
})

describe('undo and redo', () => {
  it('steps back and forth and forgets the redo branch on a new change', () => {
    const history = History.of({ n: 0 })
    expect(history.push({ n: 0 })).toBe(false)
    history.push({ n: 1 })
    history.push({ n: 2 })
    expect(history.undo()).toEqual({ n: 1 })
    expect(history.canRedo).toBe(true)
    expect(history.redo()).toEqual({ n: 2 })
    history.undo()
    history.push({ n: 3 })
    expect(history.canRedo).toBe(false)
    expect(history.undo()).toEqual({ n: 1 })
    expect(history.undo()).toEqual({ n: 0 })
    expect(history.undo()).toBeNull()
  })

  it('keeps copies, so later changes never reach back into the past', () => {
    const state = { points: [[0, 0]] }
    const history = History.of(state)
    state.points[0][0] = 5
    history.push(state)
    expect(history.undo()).toEqual({ points: [[0, 0]] })
  })

  it('is bounded', () => {
    const history = History.of(0, 3)
    for (let n = 1; n <= 10; n++) history.push(n)
    let steps = 0
    while (history.undo() !== null) steps++
    expect(steps).toBe(3)
  })
})

describe('checks before asking the hub', () => {
  it('names bad shapes, ids and gauge marks by the path the hub would use', async () => {
    const { localProblems } = await import('@/apps/technician/zones/model')
    const loaded = fromCamera(water)
    const state = structuredClone(loaded.state)
    state.zones[0].points = [[0, 0], [1, 1], [1, 0], [0, 1]]
    const gauge = state.zones.find((z) => z.kind === 'gauge')!
    gauge.marks = [{ y: 0.3, cm: 1 }, { y: 0.3, cm: 2 }]
    gauge.id = 'bad id'
    const { map } = toCamera('cam-river', state, loaded)
    expect(localProblems(state, map, 2)).toEqual([
      { path: '$.cameras[2].zones[0].polygon', code: 'self_intersection' },
      { path: '$.cameras[2].analytics[0].gauge.id', code: 'id_pattern' },
      { path: '$.cameras[2].analytics[0].gauge.marks', code: 'marks' },
    ])
    expect(localProblems(loaded.state, map, 0)).toEqual([])
  })
})

describe("the hub's 422 problems", () => {
  it('name their place as a JSON path', async () => {
    const { problemsOf } = await import('@/apps/technician/api')
    const body = {
      detail: 'cameras[0].analytics[0].classes: [] should be non-empty',
      errors: [
        { loc: ['body', 'cameras', 0, 'analytics', 0, 'classes'], msg: '[] should be non-empty', type: 'schema.minItems' },
        { loc: ['body', 'cameras', 0, 'zones'], msg: 'x', type: 't', path: '$.cameras[0].zones' },
      ],
    }
    expect(problemsOf(body, 422).map((p) => p.path)).toEqual(['$.cameras[0].analytics[0].classes', '$.cameras[0].zones'])
    expect(problemsOf({ detail: 'version 3 is not current' }, 409)).toEqual([{ path: '$', msg: 'version 3 is not current', type: 'http.409' }])
  })
})
