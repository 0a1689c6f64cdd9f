// The rule settings form, read from the camera-rules JSON Schema (GET /api/v1/schemas/camera-rules): which fields
// an analytic type has, what kind of input each needs, its limits and default. Pure. A field the schema gains later
// shows up in the form without a code change (as a JSON text field when its shape is not a simple one).
import type { AnalyticType } from './model'

type Json = Record<string, unknown>

export type FieldKind = 'number' | 'integer' | 'boolean' | 'string' | 'enum' | 'tags' | 'enumTags' | 'object' | 'json'

export interface FieldSpec {
  name: string
  kind: FieldKind
  nullable: boolean
  title: string
  description?: string
  default?: unknown
  min?: number
  max?: number
  /** exclusiveMinimum / exclusiveMaximum: the value must differ from the limit. */
  exclusiveMin?: boolean
  exclusiveMax?: boolean
  options?: string[]
  /** kind 'object': its fields (only objects whose fields are all simple). */
  children?: FieldSpec[]
}

/** Fields the editor sets itself (zones from the drawing, the gauge from its shape and marks). */
const MANAGED = new Set(['type', 'id', 'version', 'zones', 'gauge'])

export const RULE_DEFS: Record<AnalyticType, string> = {
  parking: 'ParkingRuleConfig',
  kitchen: 'KitchenRuleConfig',
  road_occupation: 'RoadOccupationRuleConfig',
  waterlogging: 'WaterloggingRuleConfig',
}

function resolve(schema: Json, node: Json): Json {
  const ref = node.$ref
  if (typeof ref === 'string' && ref.startsWith('#/$defs/')) {
    const defs = (schema.$defs ?? {}) as Record<string, Json>
    return resolve(schema, defs[ref.slice('#/$defs/'.length)] ?? {})
  }
  return node
}

/** `anyOf: [X, {type: null}]` -> X and nullable. */
function unwrapNullable(schema: Json, node: Json): { node: Json; nullable: boolean } {
  const options = node.anyOf
  if (Array.isArray(options)) {
    const real = (options as Json[]).filter((o) => o.type !== 'null')
    if (real.length === 1 && real.length < options.length) return { node: resolve(schema, real[0]), nullable: true }
  }
  return { node: resolve(schema, node), nullable: false }
}

function fieldOf(schema: Json, name: string, raw: Json, depth = 0): FieldSpec {
  const { node, nullable } = unwrapNullable(schema, raw)
  const spec: FieldSpec = {
    name,
    kind: 'json',
    nullable,
    title: String(raw.title ?? node.title ?? name),
    description: (raw.description ?? node.description) as string | undefined,
    default: raw.default ?? node.default,
  }
  const type = node.type
  if (type === 'number' || type === 'integer') {
    spec.kind = type
    if (typeof node.minimum === 'number') spec.min = node.minimum
    if (typeof node.exclusiveMinimum === 'number') {
      spec.min = node.exclusiveMinimum
      spec.exclusiveMin = true
    }
    if (typeof node.maximum === 'number') spec.max = node.maximum
    if (typeof node.exclusiveMaximum === 'number') {
      spec.max = node.exclusiveMaximum
      spec.exclusiveMax = true
    }
  } else if (type === 'boolean') {
    spec.kind = 'boolean'
  } else if (type === 'string') {
    spec.kind = Array.isArray(node.enum) ? 'enum' : 'string'
    if (Array.isArray(node.enum)) spec.options = node.enum.map(String)
  } else if (type === 'array') {
    const items = resolve(schema, (node.items ?? {}) as Json)
    if (items.type === 'string') {
      // free strings and dates (holidays: 2026-10-01) are typed in as tags
      spec.kind = Array.isArray(items.enum) ? 'enumTags' : 'tags'
      if (Array.isArray(items.enum)) spec.options = items.enum.map(String)
    }
  } else if (type === 'object' && node.properties && !node.additionalProperties && depth === 0) {
    const children = Object.entries(node.properties as Record<string, Json>).map(([n, p]) => fieldOf(schema, n, p, 1))
    if (children.every((c) => c.kind !== 'json' && c.kind !== 'object')) {
      spec.kind = 'object'
      spec.children = children
    }
  }
  return spec
}

// What a technician sets most, first; then the other simple fields in the schema's order; JSON ones last.
const FIRST = [
  'dwell_s',
  'persist_s',
  'classes',
  'min_confidence',
  'object_min_confidence',
  'leave_after_s',
  'clear_s',
  'depth_start_cm',
  'depth_end_cm',
  'coverage_start',
  'coverage_end',
  'confirm_s',
  'update_every_s',
]

function rank(field: FieldSpec): number {
  const first = FIRST.indexOf(field.name)
  if (first >= 0) return first
  return field.kind === 'json' ? 2000 : 1000
}

/** The settings fields of an analytic type: the usual ones first, structured (JSON) ones last. */
export function ruleFields(schema: Json, type: AnalyticType): FieldSpec[] {
  const defs = (schema.$defs ?? {}) as Record<string, Json>
  const def = defs[RULE_DEFS[type]]
  const properties = (def?.properties ?? {}) as Record<string, Json>
  const fields = Object.entries(properties)
    .filter(([name]) => !MANAGED.has(name))
    .map(([name, raw]) => fieldOf(schema, name, raw))
  return fields.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f)
}

/** The fields of the water gauge other than its shape and marks (min_contrast ...). */
export function gaugeFields(schema: Json): FieldSpec[] {
  const defs = (schema.$defs ?? {}) as Record<string, Json>
  const properties = (defs.GaugeConfig?.properties ?? {}) as Record<string, Json>
  return Object.entries(properties)
    .filter(([name]) => !['id', 'polygon', 'marks'].includes(name))
    .map(([name, raw]) => fieldOf(schema, name, raw))
}

function isSimpleDefault(value: unknown): boolean {
  if (value === null || value === undefined) return false
  if (['number', 'boolean', 'string'].includes(typeof value)) return true
  return Array.isArray(value) && value.every((v) => ['number', 'string'].includes(typeof v))
}

/** A new rule's settings: every default of a simple field, written out so the pushed file says what runs. */
export function ruleDefaults(schema: Json, type: AnalyticType): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of ruleFields(schema, type)) {
    if (field.kind !== 'json' && field.kind !== 'object' && isSimpleDefault(field.default)) {
      out[field.name] = Array.isArray(field.default) ? [...field.default] : field.default
    }
  }
  return out
}

/** Whether `value` is within the field's limits (what the form can check before the hub does). */
export function withinLimits(field: FieldSpec, value: number): boolean {
  if (field.min !== undefined && (field.exclusiveMin ? value <= field.min : value < field.min)) return false
  if (field.max !== undefined && (field.exclusiveMax ? value >= field.max : value > field.max)) return false
  return field.kind !== 'integer' || Number.isInteger(value)
}
