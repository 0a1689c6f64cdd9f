// The base of every map in the apps (Leaflet): the hub's own districts and grids (GET /api/v1/geo/areas) on a plain
// background, which works with no internet; a tile layer on top when the hub is configured with one
// (GET /api/v1/ui/config). With GCJ-02 tiles (AMap-style) every point we draw is shifted to GCJ-02 (`toMap`) and
// every click shifted back (`fromMap`), so places stay WGS-84 everywhere else.
import L from 'leaflet'
import 'leaflet/dist/leaflet.css'
import { api, unwrap } from '@/api/client'
import { gcj02ToWgs84, wgs84ToGcj02, type LonLat } from './gcj02'

export interface AreaMap {
  map: L.Map
  areas: L.GeoJSON
  /** WGS-84 (lon, lat) -> the map's LatLng. */
  toMap(point: LonLat): L.LatLng
  /** A map LatLng -> WGS-84 (lon, lat). */
  fromMap(latlng: L.LatLng): LonLat
  /** GeoJSON geometry in WGS-84 -> the same shifted for the map (no-op on WGS-84 tiles). */
  shiftGeoJSON<T extends GeoJSON.GeoJsonObject>(geojson: T): T
}

type Feature = GeoJSON.Feature<GeoJSON.Geometry, { kind: 'district' | 'grid'; id: string; name: string }>

function shiftCoordinates(coords: unknown, shift: (p: LonLat) => LonLat): unknown {
  if (Array.isArray(coords) && typeof coords[0] === 'number') return shift(coords as LonLat)
  return Array.isArray(coords) ? coords.map((c) => shiftCoordinates(c, shift)) : coords
}

export interface AreaMapOptions {
  /** Style of a district or grid polygon. */
  style?: (feature: Feature) => L.PathOptions
  onArea?: (feature: Feature, layer: L.Layer) => void
  interactive?: boolean
}

export async function createAreaMap(element: HTMLElement, options: AreaMapOptions = {}): Promise<AreaMap> {
  const [config, areas] = await Promise.all([
    api.GET('/api/v1/ui/config').then(unwrap),
    api.GET('/api/v1/geo/areas', {}).then(unwrap),
  ])
  const gcj = config.map.tiles_crs === 'gcj02' && !!config.map.tiles_url
  const toLonLat = (p: LonLat): LonLat => (gcj ? wgs84ToGcj02(p) : p)
  const shiftGeoJSON = <T extends GeoJSON.GeoJsonObject>(geojson: T): T =>
    gcj ? (JSON.parse(JSON.stringify(geojson), (key, value) => (key === 'coordinates' ? shiftCoordinates(value, wgs84ToGcj02) : value)) as T) : geojson

  const map = L.map(element, { zoomControl: true, attributionControl: !!config.map.tiles_url, preferCanvas: true })
  if (config.map.tiles_url) {
    L.tileLayer(config.map.tiles_url, { maxZoom: config.map.max_zoom, attribution: config.map.tiles_attribution }).addTo(map)
  }
  const layer = L.geoJSON(shiftGeoJSON(areas as unknown as GeoJSON.FeatureCollection), {
    interactive: options.interactive ?? true,
    style: (feature) =>
      options.style?.(feature as Feature) ??
      ((feature as Feature).properties.kind === 'district'
        ? { color: '#1565c0', weight: 3, fill: false }
        : { color: '#64748b', weight: 1, fillColor: '#94a3b8', fillOpacity: 0.08 }),
    onEachFeature: (feature, l) => options.onArea?.(feature as Feature, l),
  }).addTo(map)
  const bounds = layer.getBounds()
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16] })
  else map.setView([32.06, 118.79], 13)

  return {
    map,
    areas: layer,
    shiftGeoJSON,
    toMap: (point) => {
      const [lon, lat] = toLonLat(point)
      return L.latLng(lat, lon)
    },
    fromMap: (latlng) => (gcj ? gcj02ToWgs84([latlng.lng, latlng.lat]) : [latlng.lng, latlng.lat]),
  }
}
