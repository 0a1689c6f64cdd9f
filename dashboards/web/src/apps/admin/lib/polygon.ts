// Grid polygons between the hub (GeoJSON Polygon / MultiPolygon in WGS-84 lon/lat, rings closed) and the editors:
// the map (Leaflet rings, open) and the keyboard alternative, a "lon, lat" line per vertex of the outer ring.
import type { LonLat } from '@/geo/gcj02'

export type Ring = LonLat[]
export interface PolygonGeometry {
  type: 'Polygon' | 'MultiPolygon'
  coordinates: Ring[] | Ring[][]
}

/** 7 decimals: about 1 cm, more than any grid needs, and stable when a polygon makes a round trip. */
export function roundPoint([lon, lat]: LonLat): LonLat {
  return [Math.round(lon * 1e7) / 1e7, Math.round(lat * 1e7) / 1e7]
}

/** The ring closed (first point repeated at the end), as GeoJSON wants. */
export function closeRing(points: Ring): Ring {
  if (points.length === 0) return points
  const [first, last] = [points[0], points[points.length - 1]]
  return first[0] === last[0] && first[1] === last[1] ? points : [...points, first]
}

/** The ring open (closing point dropped), as Leaflet and people list it. */
export function openRing(points: Ring): Ring {
  if (points.length < 2) return points
  const [first, last] = [points[0], points[points.length - 1]]
  return first[0] === last[0] && first[1] === last[1] ? points.slice(0, -1) : points
}

/** The polygons of a geometry (a Polygon is one), each a list of rings. */
export function polygonsOf(geometry: PolygonGeometry): Ring[][] {
  return geometry.type === 'Polygon' ? [geometry.coordinates as Ring[]] : (geometry.coordinates as Ring[][])
}

/** Polygons back to a geometry: one polygon is a Polygon; rings closed and rounded. */
export function geometryOf(polygons: Ring[][]): PolygonGeometry {
  const clean = polygons.map((rings) => rings.map((ring) => closeRing(ring.map(roundPoint))))
  return clean.length === 1 ? { type: 'Polygon', coordinates: clean[0] } : { type: 'MultiPolygon', coordinates: clean }
}

/** The outer ring of the first polygon as text, a "lon, lat" line per vertex. */
export function ringText(geometry: PolygonGeometry | null): string {
  if (!geometry) return ''
  const outer = polygonsOf(geometry)[0]?.[0] ?? []
  return openRing(outer)
    .map(([lon, lat]) => `${lon}, ${lat}`)
    .join('\n')
}

export type RingParse = { ok: true; ring: Ring } | { ok: false; line: number; reason: 'format' | 'range' | 'tooFew' }

/** "lon, lat" (or "lon lat") per line -> an open ring; blank lines are skipped; the line of the first problem. */
export function parseRingText(text: string): RingParse {
  const ring: Ring = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    if (!line) continue
    const parts = line.split(/[\s,;]+/).filter(Boolean)
    const [lon, lat] = parts.map(Number)
    if (parts.length !== 2 || !Number.isFinite(lon) || !Number.isFinite(lat)) return { ok: false, line: i + 1, reason: 'format' }
    if (Math.abs(lon) > 180 || Math.abs(lat) > 90) return { ok: false, line: i + 1, reason: 'range' }
    ring.push([lon, lat])
  }
  const open = openRing(ring)
  if (open.length < 3) return { ok: false, line: lines.length, reason: 'tooFew' }
  return { ok: true, ring: open }
}

/** The geometry with its first polygon's outer ring replaced (holes and other polygons kept). */
export function withOuterRing(geometry: PolygonGeometry | null, ring: Ring): PolygonGeometry {
  const polygons = geometry ? polygonsOf(geometry).map((rings) => [...rings]) : [[]]
  polygons[0] = [ring, ...(polygons[0]?.slice(1) ?? [])]
  return geometryOf(polygons)
}
