import { describe, expect, it } from 'vitest'
import { diffFields, diffLines, withContext } from '@/apps/admin/lib/diff'
import { passwordChecks, passwordOk } from '@/apps/admin/lib/password'
import { featureIndex, fieldPath, take, AdminProblem } from '@/apps/admin/lib/problem'
import { crossesMidnight, normaliseWeekdays, rosterBody, weekdayRuns } from '@/apps/admin/lib/roster'
import { closeRing, geometryOf, parseRingText, ringText, withOuterRing } from '@/apps/admin/lib/polygon'

describe('change diffs', () => {
  it('lists changed, added and removed fields by path', () => {
    const before = { role: 'officer', districts: ['a'], grids: [], display_name: 'A' }
    const after = { role: 'commander', districts: ['a'], grids: [], active: true }
    expect(diffFields(before, after)).toEqual([
      { path: 'active', kind: 'added', after: true },
      { path: 'display_name', kind: 'removed', before: 'A' },
      { path: 'role', kind: 'changed', before: 'officer', after: 'commander' },
    ])
  })

  it('shows every field of a creation or a deletion', () => {
    expect(diffFields(null, { a: 1, b: { c: 2 } })).toEqual([
      { path: 'a', kind: 'added', after: 1 },
      { path: 'b', kind: 'added', after: { c: 2 } },
    ])
    expect(diffFields({ a: 1 }, null)).toEqual([{ path: 'a', kind: 'removed', before: 1 }])
  })

  it('diffs lines, removals before additions, with context', () => {
    const lines = diffLines('a\nb\nc\nd\ne\nf\ng', 'a\nb\nc\nD\ne\nf\ng')
    expect(lines.filter((l) => l.kind !== 'same')).toEqual([
      { kind: 'removed', text: 'd', line: 4 },
      { kind: 'added', text: 'D', line: 4 },
    ])
    const shown = withContext(lines, 1)
    expect(shown.map((l) => l?.text ?? null)).toEqual([null, 'c', 'd', 'D', 'e', null])
  })
})

describe('the password policy', () => {
  it('mirrors the hub: 10 characters, not the username', () => {
    expect(passwordOk('anna', 'short')).toBe(false)
    expect(passwordChecks('anna.long.name', 'ANNA.LONG.NAME').find((c) => c.key === 'notUsername')?.ok).toBe(false)
    expect(passwordOk('anna', 'a-long-enough-one')).toBe(true)
  })
})

describe('hub problems', () => {
  it('keeps the detail and the field errors', () => {
    const response = new Response(null, { status: 422 })
    const error = { detail: '1 of 2 features are invalid', errors: [{ loc: ['body', 'features', 1, 'geometry'], msg: 'x', type: 'v' }] }
    let caught: unknown
    try {
      take({ error, response })
    } catch (exc) {
      caught = exc
    }
    expect(caught).toBeInstanceOf(AdminProblem)
    const problem = caught as AdminProblem
    expect(problem.message).toBe('1 of 2 features are invalid')
    expect(fieldPath(problem.errors[0].loc)).toBe('features[1].geometry')
    expect(featureIndex(problem.errors[0].loc)).toBe(1)
  })

  it('accepts an empty 204 answer', () => {
    expect(take({ response: new Response(null, { status: 204 }) })).toBeUndefined()
  })
})

describe('duty windows', () => {
  it('knows a window that crosses midnight', () => {
    expect(crossesMidnight('22:00:00', '06:00:00')).toBe(true)
    expect(crossesMidnight('08:00', '17:00')).toBe(false)
    expect(crossesMidnight(null, null)).toBe(false)
  })

  it('treats no day or all seven as every day, and groups runs', () => {
    expect(normaliseWeekdays([])).toBeNull()
    expect(normaliseWeekdays([7, 6, 5, 4, 3, 2, 1])).toBeNull()
    expect(normaliseWeekdays([5, 1, 1])).toEqual([1, 5])
    expect(weekdayRuns([1, 2, 3, 4, 5, 7])).toEqual([
      [1, 5],
      [7, 7],
    ])
  })

  it('builds the request body', () => {
    const form = { grid_id: 'g', username: 'u', weekdays: [1, 2], allDay: false, start_time: '22:00', end_time: '06:00', timezone: 'Asia/Shanghai', priority: 10 }
    expect(rosterBody(form)).toMatchObject({ weekdays: [1, 2], start_time: '22:00', end_time: '06:00' })
    expect(rosterBody({ ...form, allDay: true })).toMatchObject({ start_time: null, end_time: null })
  })
})

describe('grid polygons', () => {
  const square = geometryOf([[[[118.7, 32], [118.71, 32], [118.71, 32.01], [118.7, 32.01]]]])

  it('closes rings and makes one polygon a Polygon', () => {
    expect(square.type).toBe('Polygon')
    expect((square.coordinates as number[][][])[0]).toHaveLength(5)
    expect(closeRing([[1, 1], [2, 2], [1, 1]])).toHaveLength(3)
  })

  it('edits the outer ring as lon, lat lines', () => {
    const text = ringText(square)
    expect(text.split('\n')).toEqual(['118.7, 32', '118.71, 32', '118.71, 32.01', '118.7, 32.01'])
    const parsed = parseRingText(text.replace('118.71, 32.01', '118.72 32.02'))
    expect(parsed.ok).toBe(true)
    if (parsed.ok) expect((withOuterRing(square, parsed.ring).coordinates as number[][][])[0][2]).toEqual([118.72, 32.02])
  })

  it('names the line of a bad vertex', () => {
    expect(parseRingText('118.7, 32\nnorth, 32\n118.8, 32.1')).toEqual({ ok: false, line: 2, reason: 'format' })
    expect(parseRingText('118.7, 32\n318.7, 32\n1, 1')).toEqual({ ok: false, line: 2, reason: 'range' })
    expect(parseRingText('118.7, 32\n118.8, 32').ok).toBe(false)
  })
})
