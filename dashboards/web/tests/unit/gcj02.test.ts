import { describe, expect, it } from 'vitest'
import { gcj02ToWgs84, outOfChina, wgs84ToGcj02 } from '@/geo/gcj02'

describe('WGS-84 and GCJ-02', () => {
  it('shifts a point in Nanjing by the published offset (a few hundred metres)', () => {
    // Gulou, Nanjing: GCJ-02 lies about 0.0053 deg east and 0.0021 deg south of WGS-84 there.
    const [lon, lat] = wgs84ToGcj02([118.7969, 32.0603])
    expect(lon - 118.7969).toBeGreaterThan(0.004)
    expect(lon - 118.7969).toBeLessThan(0.007)
    expect(lat - 32.0603).toBeLessThan(-0.001)
    expect(lat - 32.0603).toBeGreaterThan(-0.004)
  })

  it('matches the reference value of another implementation', () => {
    // gcoord's test suite (hujiulong/gcoord, test/unit/crs/GCJ02.spec.js): GCJ-02 (123, 45) is WGS-84
    // (122.99395597, 44.99804071), to 5 decimals.
    const [lon, lat] = gcj02ToWgs84([123, 45])
    expect(lon).toBeCloseTo(122.99395597, 5)
    expect(lat).toBeCloseTo(44.99804071, 5)
  })

  it('goes back to within a millimetre', () => {
    for (const p of [
      [118.7969, 32.0603],
      [121.4737, 31.2304],
      [113.2644, 23.1291],
    ] as Array<[number, number]>) {
      const [lon, lat] = gcj02ToWgs84(wgs84ToGcj02(p))
      expect(Math.abs(lon - p[0])).toBeLessThan(1e-8)
      expect(Math.abs(lat - p[1])).toBeLessThan(1e-8)
    }
  })

  it('leaves places outside China alone', () => {
    expect(outOfChina([2.35, 48.85])).toBe(true)
    expect(wgs84ToGcj02([2.35, 48.85])).toEqual([2.35, 48.85])
  })
})
