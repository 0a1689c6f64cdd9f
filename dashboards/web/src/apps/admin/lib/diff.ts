// Before/after of an admin change as people read it: the fields that changed (nested paths flattened), and for
// rule files the lines that changed (a line diff of the YAML text).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export interface FieldChange {
  path: string
  kind: 'added' | 'removed' | 'changed'
  before?: Json
  after?: Json
}

function isObject(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** The fields that differ between two JSON objects, by dotted path; arrays and polygons compare as a whole. */
export function diffFields(before: Json | undefined, after: Json | undefined, prefix = ''): FieldChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((key) => {
      const path = prefix ? `${prefix}.${key}` : key
      if (!(key in before)) return [{ path, kind: 'added' as const, after: after[key] }]
      if (!(key in after)) return [{ path, kind: 'removed' as const, before: before[key] }]
      return diffFields(before[key], after[key], path)
    })
  }
  if (before === undefined || before === null) {
    if (after === undefined || after === null) return []
    if (isObject(after) && !prefix) return diffFields({}, after)
    return [{ path: prefix, kind: 'added', after }]
  }
  if (after === undefined || after === null) {
    if (isObject(before) && !prefix) return diffFields(before, {})
    return [{ path: prefix, kind: 'removed', before }]
  }
  return same(before, after) ? [] : [{ path: prefix, kind: 'changed', before, after }]
}

export interface LineChange {
  kind: 'same' | 'added' | 'removed'
  text: string
  /** Line number in the old text (same, removed) or the new one (added). */
  line: number
}

/** A line diff (longest common subsequence): fine for rule files of a few hundred lines. */
export function diffLines(before: string, after: string): LineChange[] {
  const a = before.split('\n')
  const b = after.split('\n')
  const n = a.length
  const m = b.length
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1])
    }
  }
  const out: LineChange[] = []
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i], line: i + 1 })
      i++
      j++
    } else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push({ kind: 'removed', text: a[i], line: i + 1 })
      i++
    } else {
      out.push({ kind: 'added', text: b[j], line: j + 1 })
      j++
    }
  }
  return out
}

/** Only the changed lines with `context` unchanged lines around each; each run of lines left out becomes one null. */
export function withContext(lines: LineChange[], context = 2): Array<LineChange | null> {
  const keep = lines.map(() => false)
  lines.forEach((l, index) => {
    if (l.kind === 'same') return
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k++) keep[k] = true
  })
  const out: Array<LineChange | null> = []
  lines.forEach((l, index) => {
    if (keep[index]) out.push(l)
    else if (out[out.length - 1] !== null) out.push(null)
  })
  return out
}

/** A short text of a JSON value for a table cell. */
export function showValue(value: Json | undefined): string {
  if (value === undefined) return ''
  if (typeof value === 'string') return value
  const text = JSON.stringify(value)
  return text.length > 160 ? `${text.slice(0, 157)}…` : text
}
