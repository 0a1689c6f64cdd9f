import { describe, expect, it } from 'vitest'
import {
  closestOnSegment,
  insertPoint,
  isSimplePolygon,
  midpoint,
  movePoint,
  nearestEdge,
  normalise,
  pointInPolygon,
  polygonProblem,
  rectangle,
  removePoint,
  round4,
  snap,
  snapTargets,
  toPixels,
  translatePolygon,
  type Point,
} from '@/apps/technician/zones/geometry'

const square: Point[] = [
  [0.2, 0.2],
  [0.6, 0.2],
  [0.6, 0.6],
  [0.2, 0.6],
]

describe('normalised coordinates', () => {
  it('keeps 4 decimals and stays inside the frame', () => {
    expect(round4(0.123456)).toBe(0.1235)
    expect(round4(-0.2)).toBe(0)
    expect(round4(1.7)).toBe(1)
    expect(round4(Number.NaN)).toBe(0)
  })

  it('turns pixels into frame coordinates and back', () => {
    const size = { width: 1920, height: 1080 }
    expect(normalise([960, 540], size)).toEqual([0.5, 0.5])
    expect(normalise([1, 1], size)).toEqual([0.0005, 0.0009])
    expect(normalise([2500, -4], size)).toEqual([1, 0])
    expect(toPixels([0.25, 0.5], size)).toEqual([480, 540])
    // One pixel at 1080p survives the round trip (Roboflow's 0.01 would be 19 px).
    const [x] = normalise([1001, 0], size)
    expect(Math.abs(toPixels([x, 0], size)[0] - 1001)).toBeLessThan(0.5)
  })
})

describe('snapping', () => {
  const other: Point[] = [
    [100, 100],
    [200, 100],
    [200, 200],
  ]

  it('prefers a nearby vertex, then a nearby edge, else leaves the point', () => {
    const targets = snapTargets([square.map(([x, y]) => [x * 1000, y * 1000] as Point), other], 0)
    expect(snap([104, 97], targets, 10)).toEqual({ point: [100, 100], kind: 'vertex' })
    expect(snap([150, 106], targets, 10)).toEqual({ point: [150, 100], kind: 'edge' })
    expect(snap([150, 130], targets, 10)).toEqual({ point: [150, 130], kind: 'none' })
  })

  it('never snaps a zone onto itself (the ring would touch itself)', () => {
    const targets = snapTargets([other], 0)
    expect(targets.vertices).toEqual([])
    expect(snap([101, 101], targets, 10).kind).toBe('none')
  })

  it('finds the point of a segment nearest to another', () => {
    expect(closestOnSegment([5, 5], [0, 0], [10, 0])).toEqual({ point: [5, 0], t: 0.5, distance: 5 })
    expect(closestOnSegment([-5, 0], [0, 0], [10, 0]).t).toBe(0)
  })
})

describe('editing points', () => {
  it('inserts a point on the edge that was clicked', () => {
    const hit = nearestEdge([0.4, 0.21], square, 0.05)
    expect(hit).toEqual({ index: 0, point: [0.4, 0.2] })
    const out = insertPoint(square, hit!.index, hit!.point)
    expect(out).toHaveLength(5)
    expect(out[1]).toEqual([0.4, 0.2])
    expect(square).toHaveLength(4) // a copy
    expect(nearestEdge([0.4, 0.4], square, 0.05)).toBeNull()
    expect(midpoint(square, 3)).toEqual([0.2, 0.4])
  })

  it('removes points down to a triangle and no further', () => {
    const triangle = removePoint(square, 1)!
    expect(triangle).toEqual([
      [0.2, 0.2],
      [0.6, 0.6],
      [0.2, 0.6],
    ])
    expect(removePoint(triangle, 0)).toBeNull()
  })

  it('moves a point by keyboard steps inside the frame', () => {
    expect(movePoint(square, 0, 0.001, -0.0005)[0]).toEqual([0.201, 0.1995])
    expect(movePoint(square, 2, 0.9, 0.9)[2]).toEqual([1, 1])
  })

  it('moves a whole shape, stopping at the frame edge without deforming it', () => {
    const moved = translatePolygon(square, 0.7, -0.05)
    expect(moved).toEqual([
      [0.6, 0.15],
      [1, 0.15],
      [1, 0.55],
      [0.6, 0.55],
    ])
  })

  it('starts new zones as rectangles inside the frame', () => {
    expect(rectangle(0.5, 0.5, 0.2, 0.1)).toEqual([
      [0.4, 0.45],
      [0.6, 0.45],
      [0.6, 0.55],
      [0.4, 0.55],
    ])
    expect(rectangle(0.99, 0.01, 0.2, 0.2)[1]).toEqual([1, 0])
  })
})

describe('simple polygons (what the edge agent accepts)', () => {
  it.each([
    ['a square', square, null],
    ['a bow tie', [[0, 0], [1, 1], [1, 0], [0, 1]], 'self_intersection'],
    ['a line', [[0, 0], [0.5, 0.5], [1, 1]], 'zero_area'],
    ['two points', [[0, 0], [1, 1]], 'too_few_points'],
    ['a repeated corner', [[0, 0], [1, 0], [0.5, 0.5], [1, 1], [0, 1], [0.5, 0.5]], 'repeated_point'],
    ['a spike folding back', [[0, 0], [1, 0], [1, 1], [1, 0.5]], 'self_intersection'],
    ['a ring touching itself', [[0, 0], [1, 0], [1, 1], [0.5, 0], [0, 1]], 'self_intersection'],
    ['a concave L', [[0, 0], [1, 0], [1, 0.3], [0.3, 0.3], [0.3, 1], [0, 1]], null],
  ] as Array<[string, Point[], string | null]>)('%s', (_name, polygon, problem) => {
    expect(polygonProblem(polygon)).toBe(problem)
    expect(isSimplePolygon(polygon)).toBe(problem === null)
  })

  it('picks shapes by the point inside', () => {
    expect(pointInPolygon([0.4, 0.4], square)).toBe(true)
    expect(pointInPolygon([0.7, 0.4], square)).toBe(false)
  })
})
