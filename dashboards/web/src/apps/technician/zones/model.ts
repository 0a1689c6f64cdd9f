// The zone editor's model and its conversion to and from one camera's rules (the `cameras[]` entry of a device's
// desired configuration; schema: GET /api/v1/schemas/camera-rules). Pure.
//
// In the configuration, zones are plain polygons and the analytics name the zones they watch; a water gauge is no
// zone but part of a waterlogging rule. The editor turns this around: every shape is an EditorZone of a kind
// (no-parking area, kitchen area, street-vending area, road region for water coverage, water gauge) linked to the
// rule that carries its settings, so a technician edits a zone and its dwell time, classes ... together. Rules that
// watch several zones stay shared; a new zone gets a rule of its own (a road region or gauge joins the camera's
// waterlogging rule). A rule's `version` goes up when its settings or any of its zones change, the camera's
// `version` when anything changes, as the edge expects ("bump on every change").
import { polygonProblem, round4, type Point, type PolygonProblem } from './geometry'

export type AnalyticType = 'parking' | 'kitchen' | 'road_occupation' | 'waterlogging'
export type ZoneKind = 'parking' | 'kitchen' | 'road_occupation' | 'water_road' | 'gauge' | 'plain'

/** Kinds a technician can draw, in the order the editor offers them. */
export const DRAWABLE_KINDS = ['parking', 'kitchen', 'road_occupation', 'water_road', 'gauge'] as const
export type DrawableKind = (typeof DRAWABLE_KINDS)[number]

export const KIND_ANALYTIC: Record<DrawableKind, AnalyticType> = {
  parking: 'parking',
  kitchen: 'kitchen',
  road_occupation: 'road_occupation',
  water_road: 'waterlogging',
  gauge: 'waterlogging',
}

const ID_PREFIX: Record<DrawableKind, string> = {
  parking: 'no-parking',
  kitchen: 'kitchen',
  road_occupation: 'no-vending',
  water_road: 'road',
  gauge: 'gauge',
}

export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/

export interface GaugeMark {
  y: number
  cm: number
}

export interface EditorZone {
  /** Stable within an editing session (ids can be renamed). */
  key: string
  id: string
  name: string
  kind: ZoneKind
  points: Point[]
  /** The rule whose settings apply; null for a zone no rule watches directly (e.g. a kitchen's floor zone). */
  ruleKey: string | null
  /** Gauge only: its two calibration marks (row 0..1, gauge value in cm). */
  marks?: GaugeMark[]
  /** Gauge only: its other fields (min_contrast, or top_cm/bottom_cm instead of marks), kept as they were. */
  gaugeExtra?: Record<string, unknown>
}

export interface EditorRule {
  key: string
  type: AnalyticType
  id: string
  version: number
  /** Every field of the analytic but type, id, version, zones and gauge. */
  settings: Record<string, unknown>
}

export interface EditorState {
  zones: EditorZone[]
  rules: EditorRule[]
}

export interface LoadedCamera {
  state: EditorState
  /** The camera rules' version as loaded (0: the hub has no rules for this camera yet). */
  version: number
  /** The camera entry's other fields (source, name, location, fps of an added camera), kept. */
  extra: Record<string, unknown>
  /** Per rule key: its fingerprint as loaded (see Built), to see which rules changed. */
  baseline: Record<string, string>
  /** The camera's JSON as loaded without `version`. */
  cameraBaseline: string
}

type Json = Record<string, unknown>
const MANAGED = new Set(['type', 'id', 'version', 'zones', 'gauge'])

function asPoints(value: unknown): Point[] {
  return Array.isArray(value) ? value.map((p) => [Number(p?.[0]), Number(p?.[1])] as Point) : []
}

function strip(obj: Json, keys: Set<string>): Json {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.has(k)))
}

/** The editor's view of a camera entry of the desired configuration (or of nothing: a camera without rules). */
export function fromCamera(camera: Json | null | undefined): LoadedCamera {
  const zonesIn = Array.isArray(camera?.zones) ? (camera.zones as Json[]) : []
  const analyticsIn = Array.isArray(camera?.analytics) ? (camera.analytics as Json[]) : []
  const zones: EditorZone[] = zonesIn.map((z, i) => ({
    key: `z${i}`,
    id: String(z.id ?? ''),
    name: String(z.name ?? ''),
    kind: 'plain',
    points: asPoints(z.polygon),
    ruleKey: null,
  }))
  const rules: EditorRule[] = []
  analyticsIn.forEach((a, k) => {
    const type = String(a.type) as AnalyticType
    const rule: EditorRule = {
      key: `r${k}`,
      type,
      id: String(a.id ?? type),
      version: Number(a.version ?? 1),
      settings: strip(a, MANAGED),
    }
    rules.push(rule)
    const watched = Array.isArray(a.zones) ? a.zones.map(String) : []
    for (const zone of zones) {
      if (zone.ruleKey === null && watched.includes(zone.id)) {
        zone.kind = type === 'waterlogging' ? 'water_road' : type
        zone.ruleKey = rule.key
      }
    }
    const gauge = a.gauge as Json | null | undefined
    if (type === 'waterlogging' && gauge && typeof gauge === 'object') {
      zones.push({
        key: `g${k}`,
        id: String(gauge.id ?? 'gauge'),
        name: '',
        kind: 'gauge',
        points: asPoints(gauge.polygon),
        ruleKey: rule.key,
        marks: Array.isArray(gauge.marks) ? (gauge.marks as Json[]).map((m) => ({ y: Number(m.y), cm: Number(m.cm) })) : undefined,
        gaugeExtra: strip(gauge, new Set(['id', 'polygon', 'marks'])),
      })
    }
  })
  const state = { zones, rules }
  const built = build(state)
  const baseline = Object.fromEntries(built.map.analytics.map((key, k) => [key, built.fingerprints[k]]))
  const extra = camera ? strip(camera, new Set(['camera_id', 'version', 'zones', 'analytics'])) : {}
  const version = Number(camera?.version ?? 0)
  return { state, version, extra, baseline, cameraBaseline: camera ? cameraJson(strip(camera, new Set(['version']))) : '' }
}

/** Where each part of a built camera entry came from: zones[j] and analytics[k] -> editor keys. */
export interface PathMap {
  zones: string[]
  analytics: string[]
  /** analytics index -> the gauge zone's key, for rules with a gauge. */
  gauges: Record<number, string>
}

interface Built {
  zones: Json[]
  analytics: Json[]
  map: PathMap
  /** Per analytic: its JSON without `version`, with the shapes of its zones (a moved zone changes its rule). */
  fingerprints: string[]
}

function build(state: EditorState): Built {
  const map: PathMap = { zones: [], analytics: [], gauges: {} }
  const zones: Json[] = []
  const polygons = new Map<string, unknown>()
  for (const z of state.zones) {
    if (z.kind === 'gauge') continue
    const polygon = z.points.map(([x, y]) => [round4(x), round4(y)])
    zones.push({ id: z.id, ...(z.name ? { name: z.name } : {}), polygon })
    polygons.set(z.id, polygon)
    map.zones.push(z.key)
  }
  const analytics: Json[] = []
  const fingerprints: string[] = []
  for (const rule of state.rules) {
    const watched = state.zones.filter((z) => z.ruleKey === rule.key && z.kind !== 'gauge').map((z) => z.id)
    const gauge = state.zones.find((z) => z.ruleKey === rule.key && z.kind === 'gauge')
    if (watched.length === 0 && !gauge) continue // all its zones were deleted: the rule goes with them
    const analytic: Json = { type: rule.type, id: rule.id, version: rule.version, ...rule.settings, zones: watched }
    if (gauge) {
      analytic.gauge = {
        id: gauge.id,
        polygon: gauge.points.map(([x, y]) => [round4(x), round4(y)]),
        ...(gauge.marks ? { marks: gauge.marks.map((m) => ({ y: round4(m.y), cm: m.cm })) } : {}),
        ...(gauge.gaugeExtra ?? {}),
      }
      map.gauges[analytics.length] = gauge.key
    }
    analytics.push(analytic)
    fingerprints.push(canonicalJson({ ...strip(analytic, new Set(['version'])), shapes: watched.map((id) => polygons.get(id)) }))
    map.analytics.push(rule.key)
  }
  return { zones, analytics, map, fingerprints }
}

/** JSON with object keys sorted, so the same content always reads the same whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

function cameraJson(camera: Json): string {
  return canonicalJson(camera)
}

/**
 * The camera entry to send (`cameras[]` of PUT /devices/{id}/config), with rule and camera versions raised where
 * something changed since loading, and where each part came from (to show the hub's errors next to the field).
 */
export function toCamera(
  cameraId: string,
  state: EditorState,
  loaded: LoadedCamera,
): { camera: Json; map: PathMap; changed: boolean } {
  const built = build(state)
  const analytics = built.analytics.map((a, k) => {
    const key = built.map.analytics[k]
    const before = loaded.baseline[key]
    if (before === undefined) return { ...a, version: 1 }
    if (before === built.fingerprints[k]) return a
    const rule = state.rules.find((r) => r.key === key)
    return { ...a, version: (rule?.version ?? 0) + 1 }
  })
  const body: Json = { camera_id: cameraId, ...loaded.extra, zones: built.zones, analytics }
  const changed = cameraJson(body) !== loaded.cameraBaseline
  const version = changed ? loaded.version + 1 : Math.max(loaded.version, 1)
  return { camera: { camera_id: cameraId, version, ...loaded.extra, zones: built.zones, analytics }, map: built.map, changed }
}

/** The whole desired configuration with this camera's entry replaced (other cameras kept as they are). */
export function withCamera(config: Json | null | undefined, camera: Json): { config: Json; cameraIndex: number } {
  const cameras = Array.isArray(config?.cameras) ? [...(config.cameras as Json[])] : []
  let index = cameras.findIndex((c) => c.camera_id === camera.camera_id)
  if (index < 0) {
    index = cameras.length
    cameras.push(camera)
  } else {
    cameras[index] = camera
  }
  const rest = config ? strip(config, new Set(['version', 'cameras'])) : {}
  return { config: { ...rest, cameras }, cameraIndex: index }
}

/** A zone id not used yet, from the kind's prefix: no-parking-1, no-parking-2, ... */
export function freshZoneId(state: EditorState, kind: DrawableKind): string {
  const used = new Set(state.zones.map((z) => z.id))
  let n = 1
  while (used.has(`${ID_PREFIX[kind]}-${n}`)) n++
  return `${ID_PREFIX[kind]}-${n}`
}

function freshKey(prefix: string, taken: Iterable<string>): string {
  const used = new Set(taken)
  let n = 1
  while (used.has(`${prefix}${n}`)) n++
  return `${prefix}${n}`
}

/** Two calibration marks a quarter in from the gauge's top and bottom; the technician sets their values. */
export function defaultMarks(points: Point[]): GaugeMark[] {
  const ys = points.map((p) => p[1])
  const top = Math.min(...ys)
  const bottom = Math.max(...ys)
  return [
    { y: round4(top + (bottom - top) * 0.25), cm: 50 },
    { y: round4(top + (bottom - top) * 0.75), cm: 10 },
  ]
}

/**
 * `state` with a new zone of `kind` drawn as `points`. Its rule: a new one with `defaults` for areas (each area its
 * own settings); road regions and gauges join the camera's waterlogging rule (a gauge one without a gauge yet).
 */
export function addZone(
  state: EditorState,
  kind: DrawableKind,
  points: Point[],
  defaults: (type: AnalyticType) => Record<string, unknown>,
): { state: EditorState; zone: EditorZone } {
  const type = KIND_ANALYTIC[kind]
  const id = freshZoneId(state, kind)
  const key = freshKey('n', state.zones.map((z) => z.key))
  let rule: EditorRule | undefined
  if (kind === 'water_road') rule = state.rules.find((r) => r.type === 'waterlogging')
  if (kind === 'gauge') {
    rule = state.rules.find((r) => r.type === 'waterlogging' && !state.zones.some((z) => z.ruleKey === r.key && z.kind === 'gauge'))
  }
  const rules = [...state.rules]
  if (!rule) {
    const ruleIds = new Set(state.rules.map((r) => r.id))
    let ruleId = kind === 'water_road' || kind === 'gauge' ? 'waterlogging' : `${type}.${id}`
    for (let n = 2; ruleIds.has(ruleId); n++) ruleId = `${kind === 'water_road' || kind === 'gauge' ? 'waterlogging' : `${type}.${id}`}-${n}`
    rule = { key: freshKey('new', state.rules.map((r) => r.key)), type, id: ruleId, version: 1, settings: defaults(type) }
    rules.push(rule)
  }
  const zone: EditorZone = {
    key,
    id,
    name: '',
    kind,
    points: points.map(([x, y]) => [round4(x), round4(y)] as Point),
    ruleKey: rule.key,
    ...(kind === 'gauge' ? { marks: defaultMarks(points), gaugeExtra: {} } : {}),
  }
  return { state: { zones: [...state.zones, zone], rules }, zone }
}

/** `state` without zone `key`; a rule left with nothing to watch is dropped with it. */
export function removeZone(state: EditorState, key: string): EditorState {
  const zones = state.zones.filter((z) => z.key !== key)
  const rules = state.rules.filter((r) => zones.some((z) => z.ruleKey === r.key))
  return { zones, rules }
}

/** Ids that are malformed or used twice, each with its problem, for the form (the edge refuses both). */
export function zoneIdProblems(state: EditorState): Record<string, 'pattern' | 'duplicate'> {
  const problems: Record<string, 'pattern' | 'duplicate'> = {}
  const areas = state.zones.filter((z) => z.kind !== 'gauge')
  for (const zone of state.zones) {
    if (!ID_PATTERN.test(zone.id)) problems[zone.key] = 'pattern'
    else if (zone.kind !== 'gauge' && areas.filter((z) => z.id === zone.id).length > 1) problems[zone.key] = 'duplicate'
  }
  return problems
}

/** Where a problem of the hub's validation (its JSON path, e.g. `$.cameras[0].analytics[1].dwell_s`) belongs. */
export interface ErrorPlace {
  zoneKey?: string
  ruleKey?: string
  /** The field inside the zone or rule (`polygon`, `dwell_s`, `gauge.marks`, ...); camera-level otherwise. */
  field: string
}

export function locateError(path: string, map: PathMap, cameraIndex: number): ErrorPlace | null {
  const tokens = [...path.matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[1] !== undefined ? m[1] : Number(m[2])))
  if (tokens[0] !== 'cameras' || tokens[1] !== cameraIndex) return null
  const [section, index, field, ...rest] = tokens.slice(2)
  if (section === 'zones' && typeof index === 'number') {
    return { zoneKey: map.zones[index], field: typeof field === 'string' ? field : 'polygon' }
  }
  if (section === 'analytics' && typeof index === 'number') {
    if (field === 'gauge' && map.gauges[index]) {
      const inner = rest.find((t): t is string => typeof t === 'string')
      return { zoneKey: map.gauges[index], ruleKey: map.analytics[index], field: inner ? `gauge.${inner}` : 'gauge' }
    }
    return { ruleKey: map.analytics[index], field: typeof field === 'string' ? field : '' }
  }
  return { field: typeof section === 'string' ? section : '' }
}

export interface LocalProblem {
  path: string
  code: PolygonProblem | 'id_pattern' | 'id_duplicate' | 'marks'
}

/** What the editor can tell before asking anyone: shapes the edge would refuse, bad ids, a gauge without two marks
 * on different rows. Paths as the hub writes them, so they show in the same places. */
export function localProblems(state: EditorState, map: PathMap, cameraIndex: number): LocalProblem[] {
  const problems: LocalProblem[] = []
  const base = `$.cameras[${cameraIndex}]`
  const ids = zoneIdProblems(state)
  const gaugeIndex = Object.fromEntries(Object.entries(map.gauges).map(([k, key]) => [key, Number(k)]))
  for (const zone of state.zones) {
    const where = zone.kind === 'gauge' ? `${base}.analytics[${gaugeIndex[zone.key]}].gauge` : `${base}.zones[${map.zones.indexOf(zone.key)}]`
    const shape = polygonProblem(zone.points)
    if (shape) problems.push({ path: `${where}.polygon`, code: shape })
    if (ids[zone.key]) problems.push({ path: `${where}.id`, code: ids[zone.key] === 'pattern' ? 'id_pattern' : 'id_duplicate' })
    if (zone.kind === 'gauge' && zone.marks && (zone.marks.length !== 2 || Math.abs(zone.marks[0].y - zone.marks[1].y) < 1e-3)) {
      problems.push({ path: `${where}.marks`, code: 'marks' })
    }
  }
  return problems
}
