import { describe, expect, it } from 'vitest'
import { apiQuery, filterFromQuery, incidentsLink, queryFromFilter, sortFromQuery } from '@/apps/command/model/filters'
import { bucketMs, rangeFromQuery, rangeToQuery, resolveRange } from '@/apps/command/model/timeRange'

describe('incident filters in the URL', () => {
  it('round-trips through the query', () => {
    const filter = {
      status: ['open'],
      kind: ['illegal_parking', 'waterlogging'],
      severity: ['red'],
      district: 'nj-gulou',
      grid: 'nj-gulou-01',
      camera: 'cam-1',
      since: '2026-03-01T09:00:00.000Z',
      until: '2026-03-01T10:00:00.000Z',
      overdue: true,
    }
    const query = queryFromFilter(filter, 'severity')
    expect(query).toMatchObject({ kind: 'illegal_parking,waterlogging', overdue: '1', sort: 'severity' })
    const back = filterFromQuery(query as Record<string, string>)
    expect(back).toEqual(filter)
    expect(sortFromQuery(query as Record<string, string>)).toBe('severity')
  })

  it('drops unknown values and bad times instead of failing', () => {
    const filter = filterFromQuery({ status: 'open,bogus', severity: ['red', 'purple'], since: 'yesterday', overdue: 'x' })
    expect(filter).toEqual({ status: ['open'], kind: [], severity: ['red'], overdue: undefined })
    expect(sortFromQuery({ sort: 'nonsense' })).toBe('last_seen')
  })

  it('leaves out what is not set, so drill-downs are short links', () => {
    expect(incidentsLink({ kind: ['waterlogging'] })).toEqual({ path: '/incidents', query: { kind: 'waterlogging' } })
  })

  it('maps to the hub query parameters', () => {
    const q = apiQuery({ status: [], kind: ['waterlogging'], severity: [], grid: 'g1', overdue: false }, 'last_seen', 500, 0)
    expect(q).toMatchObject({ status: undefined, kind: ['waterlogging'], grid_id: 'g1', overdue: false, limit: 500, offset: 0 })
  })
})

describe('time range', () => {
  const now = Date.parse('2026-03-01T10:00:00Z')

  it('resolves presets against now and keeps fixed spans', () => {
    const span = resolveRange({ preset: '6h' }, now)
    expect(span.until.getTime() - span.since.getTime()).toBe(6 * 3_600_000)
    const fixed = { since: '2026-02-01T00:00:00.000Z', until: '2026-02-02T00:00:00.000Z' }
    expect(resolveRange(fixed, now).since.toISOString()).toBe(fixed.since)
  })

  it('uses hourly buckets up to two days, daily beyond', () => {
    expect(bucketMs(resolveRange({ preset: '24h' }, now))).toBe(3_600_000)
    expect(bucketMs(resolveRange({ preset: '7d' }, now))).toBe(86_400_000)
  })

  it('round-trips through the URL and falls back on nonsense', () => {
    const fixed = { since: '2026-02-01T00:00:00.000Z', until: '2026-02-02T00:00:00.000Z' }
    expect(rangeFromQuery(rangeToQuery(fixed))).toEqual(fixed)
    expect(rangeFromQuery('7d')).toEqual({ preset: '7d' })
    expect(rangeFromQuery('2026-02-02/2026-02-01')).toEqual({ preset: '24h' })
    expect(rangeFromQuery(undefined)).toEqual({ preset: '24h' })
  })
})
