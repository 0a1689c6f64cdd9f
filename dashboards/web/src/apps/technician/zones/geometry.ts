// Zone geometry for the editor, pure: points are [x, y] pairs in any one space (the canvas works in pixels and
// stores normalised 0..1 frame coordinates). The edge agent accepts a polygon only when it is simple with a non-zero
// area (shapely's is_valid), so the editor checks the same before anything is sent.

export type Point = [number, number]
export interface Size {
  width: number
  height: number
}

/** Decimals kept in normalised coordinates: 1e-4 of a 1920 px frame is 0.2 px (Roboflow's 0.01 is 19 px). */
export const DECIMALS = 4
const SCALE = 10 ** DECIMALS

/** A normalised coordinate clamped to the frame and rounded to DECIMALS. */
export function round4(value: number): number {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0))
  return Math.round(clamped * SCALE) / SCALE
}

/** Pixels on a picture of `size` -> frame coordinates 0..1 with 4 decimals. */
export function normalise(point: Point, size: Size): Point {
  return [round4(point[0] / size.width), round4(point[1] / size.height)]
}

export function normalisePolygon(points: Point[], size: Size): Point[] {
  return points.map((p) => normalise(p, size))
}

/** Frame coordinates 0..1 -> pixels on a picture of `size`. */
export function toPixels(point: Point, size: Size): Point {
  return [point[0] * size.width, point[1] * size.height]
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1])
}

/** The point of segment a-b nearest to p, its position t (0 at a, 1 at b) and its distance to p. */
export function closestOnSegment(p: Point, a: Point, b: Point): { point: Point; t: number; distance: number } {
  const dx = b[0] - a[0]
  const dy = b[1] - a[1]
  const length2 = dx * dx + dy * dy
  const t = length2 === 0 ? 0 : Math.min(1, Math.max(0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
  const point: Point = [a[0] + t * dx, a[1] + t * dy]
  return { point, t, distance: distance(p, point) }
}

/** The edges of a closed polygon: [point i, point i+1], the last back to the first. */
export function edges(polygon: Point[]): Array<[Point, Point]> {
  return polygon.map((p, i) => [p, polygon[(i + 1) % polygon.length]] as [Point, Point])
}

export interface Snap {
  point: Point
  kind: 'vertex' | 'edge' | 'none'
}

export interface SnapTargets {
  vertices: Point[]
  edges: Array<[Point, Point]>
}

/**
 * `p` moved onto the nearest vertex within `threshold`, else onto the nearest edge within `threshold`, else left
 * where it is. Vertices win over edges so shared corners line up exactly.
 */
export function snap(p: Point, targets: SnapTargets, threshold: number): Snap {
  let best: Snap = { point: p, kind: 'none' }
  let bestDistance = threshold
  for (const v of targets.vertices) {
    const d = distance(p, v)
    if (d <= bestDistance) {
      best = { point: [v[0], v[1]], kind: 'vertex' }
      bestDistance = d
    }
  }
  if (best.kind === 'vertex') return best
  for (const [a, b] of targets.edges) {
    const hit = closestOnSegment(p, a, b)
    if (hit.distance <= bestDistance) {
      best = { point: hit.point, kind: 'edge' }
      bestDistance = hit.distance
    }
  }
  return best
}

/** What to snap a point of `polygons[zone]` to: the other zones' vertices and edges. Its own are left out: a point
 * snapped onto its own polygon would make the ring touch itself, which the edge agent refuses. */
export function snapTargets(polygons: Point[][], zone: number): SnapTargets {
  const targets: SnapTargets = { vertices: [], edges: [] }
  polygons.forEach((polygon, z) => {
    if (z === zone) return
    targets.vertices.push(...polygon)
    targets.edges.push(...edges(polygon))
  })
  return targets
}

/** The edge of `polygon` nearest to `p` within `threshold`: its index i (between point i and i+1) and the point. */
export function nearestEdge(p: Point, polygon: Point[], threshold: number): { index: number; point: Point } | null {
  let best: { index: number; point: Point } | null = null
  let bestDistance = threshold
  edges(polygon).forEach(([a, b], index) => {
    const hit = closestOnSegment(p, a, b)
    if (hit.distance <= bestDistance) {
      best = { index, point: hit.point }
      bestDistance = hit.distance
    }
  })
  return best
}

/** A copy of `polygon` with `point` inserted on edge `edgeIndex` (after point edgeIndex). */
export function insertPoint(polygon: Point[], edgeIndex: number, point: Point): Point[] {
  const out = polygon.map((p) => [p[0], p[1]] as Point)
  out.splice(edgeIndex + 1, 0, [point[0], point[1]])
  return out
}

/** Midpoint of edge i: where the editor offers to add a point. */
export function midpoint(polygon: Point[], edgeIndex: number): Point {
  const a = polygon[edgeIndex]
  const b = polygon[(edgeIndex + 1) % polygon.length]
  return [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]
}

/** A copy without point `index`; polygons keep at least 3 points (null when that would be fewer). */
export function removePoint(polygon: Point[], index: number): Point[] | null {
  if (polygon.length <= 3) return null
  return polygon.filter((_, i) => i !== index).map((p) => [p[0], p[1]] as Point)
}

/** Point `index` moved by (dx, dy), kept inside the unit frame, rounded to 4 decimals (normalised space). */
export function movePoint(polygon: Point[], index: number, dx: number, dy: number): Point[] {
  return polygon.map((p, i) => (i === index ? [round4(p[0] + dx), round4(p[1] + dy)] : [p[0], p[1]]) as Point)
}

export function bounds(points: Point[]): { minX: number; minY: number; maxX: number; maxY: number } {
  const xs = points.map((p) => p[0])
  const ys = points.map((p) => p[1])
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) }
}

/** The whole shape moved by (dx, dy) in normalised space, the move shortened so no point leaves the frame. */
export function translatePolygon(polygon: Point[], dx: number, dy: number): Point[] {
  const box = bounds(polygon)
  const cx = Math.min(1 - box.maxX, Math.max(-box.minX, dx))
  const cy = Math.min(1 - box.maxY, Math.max(-box.minY, dy))
  return polygon.map((p) => [round4(p[0] + cx), round4(p[1] + cy)] as Point)
}

/** Twice the signed area (shoelace); positive when the points turn counter-clockwise in x-right, y-up axes. */
export function signedArea2(polygon: Point[]): number {
  let sum = 0
  polygon.forEach((p, i) => {
    const q = polygon[(i + 1) % polygon.length]
    sum += p[0] * q[1] - q[0] * p[1]
  })
  return sum
}

function orientation(a: Point, b: Point, c: Point): number {
  const value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
  return Math.abs(value) < 1e-12 ? 0 : Math.sign(value)
}

function onSegment(a: Point, b: Point, p: Point): boolean {
  return (
    Math.min(a[0], b[0]) - 1e-12 <= p[0] &&
    p[0] <= Math.max(a[0], b[0]) + 1e-12 &&
    Math.min(a[1], b[1]) - 1e-12 <= p[1] &&
    p[1] <= Math.max(a[1], b[1]) + 1e-12
  )
}

/** Whether segments a-b and c-d share any point (touching counts). */
export function segmentsIntersect(a: Point, b: Point, c: Point, d: Point): boolean {
  const o1 = orientation(a, b, c)
  const o2 = orientation(a, b, d)
  const o3 = orientation(c, d, a)
  const o4 = orientation(c, d, b)
  if (o1 !== o2 && o3 !== o4) return true
  return (
    (o1 === 0 && onSegment(a, b, c)) ||
    (o2 === 0 && onSegment(a, b, d)) ||
    (o3 === 0 && onSegment(c, d, a)) ||
    (o4 === 0 && onSegment(c, d, b))
  )
}

export type PolygonProblem = 'too_few_points' | 'zero_area' | 'self_intersection' | 'repeated_point'

/** Why the edge agent would refuse this polygon (it must be simple, with a non-zero area), or null. */
export function polygonProblem(polygon: Point[]): PolygonProblem | null {
  const n = polygon.length
  if (n < 3) return 'too_few_points'
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (polygon[i][0] === polygon[j][0] && polygon[i][1] === polygon[j][1]) return 'repeated_point'
    }
  }
  const sides = edges(polygon)
  const pairs: Array<[number, number, boolean]> = []
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) pairs.push([i, j, j === i + 1 || (i === 0 && j === n - 1)])
  }
  for (const [i, j, adjacent] of pairs) {
    if (!adjacent && segmentsIntersect(...sides[i], ...sides[j])) return 'self_intersection'
  }
  if (Math.abs(signedArea2(polygon)) < 1e-12) return 'zero_area'
  for (const [i, j, adjacent] of pairs) {
    if (!adjacent) continue
    // Neighbours share one point; they must not fold back over each other.
    const [a, b] = sides[i]
    const [c, d] = sides[j]
    const [shared, farI, farJ] = j === i + 1 ? [b, a, d] : [a, b, c]
    if (orientation(farI, shared, farJ) === 0 && (onSegment(shared, farI, farJ) || onSegment(shared, farJ, farI))) {
      return 'self_intersection'
    }
  }
  return null
}

export function isSimplePolygon(polygon: Point[]): boolean {
  return polygonProblem(polygon) === null
}

/** Ray casting: whether p lies inside the polygon (edges count as outside; the editor only uses it for picking). */
export function pointInPolygon(p: Point, polygon: Point[]): boolean {
  let inside = false
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]
    const [xj, yj] = polygon[j]
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside
  }
  return inside
}

/** An axis-aligned rectangle centred on (cx, cy), clamped into the frame: the shape a new zone starts with. */
export function rectangle(cx: number, cy: number, width: number, height: number): Point[] {
  const x0 = round4(Math.min(1 - width, Math.max(0, cx - width / 2)))
  const y0 = round4(Math.min(1 - height, Math.max(0, cy - height / 2)))
  const x1 = round4(x0 + width)
  const y1 = round4(y0 + height)
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ]
}
