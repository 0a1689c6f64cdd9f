// WGS-84 <-> GCJ-02 ("Mars coordinates"). Chinese online maps (AMap, Tencent) draw their tiles in GCJ-02, a
// deliberately shifted datum; our places (GPS, the grid GeoJSON) are WGS-84. On such tiles every point is shifted
// to GCJ-02 before it is drawn, and a click is shifted back. Outside mainland China the two are the same.
// The forward formula is the published one used by every open implementation (e.g. eviltransform); the inverse
// is found by iteration to well under a centimetre.

const A = 6378245.0 // Krasovsky 1940 semi-major axis
const EE = 0.006693421622965943 // its eccentricity squared

export type LonLat = [number, number]

/** Roughly mainland China (the datum applies only there). */
export function outOfChina([lon, lat]: LonLat): boolean {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

function transformLat(x: number, y: number): number {
  let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x))
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0
  r += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0
  r += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0
  return r
}

function transformLon(x: number, y: number): number {
  let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x))
  r += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0
  r += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0
  r += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0
  return r
}

export function wgs84ToGcj02(point: LonLat): LonLat {
  const [lon, lat] = point
  if (outOfChina(point)) return [lon, lat]
  let dLat = transformLat(lon - 105.0, lat - 35.0)
  let dLon = transformLon(lon - 105.0, lat - 35.0)
  const radLat = (lat / 180.0) * Math.PI
  let magic = Math.sin(radLat)
  magic = 1 - EE * magic * magic
  const sqrtMagic = Math.sqrt(magic)
  dLat = (dLat * 180.0) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI)
  dLon = (dLon * 180.0) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI)
  return [lon + dLon, lat + dLat]
}

export function gcj02ToWgs84(point: LonLat): LonLat {
  if (outOfChina(point)) return [point[0], point[1]]
  let [lon, lat] = point
  for (let i = 0; i < 10; i++) {
    const [gLon, gLat] = wgs84ToGcj02([lon, lat])
    const dLon = point[0] - gLon
    const dLat = point[1] - gLat
    lon += dLon
    lat += dLat
    if (Math.abs(dLon) < 1e-9 && Math.abs(dLat) < 1e-9) break
  }
  return [lon, lat]
}
