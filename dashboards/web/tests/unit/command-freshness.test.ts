import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { dataAsOf, debounce } from '@/apps/command/model/freshness'
import { fitScale } from '@/apps/command/screens/Wall/useFitScale'

describe('debounce with a ceiling', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('runs once after a quiet spell', () => {
    const fn = vi.fn()
    const later = debounce(fn, 1_000, 10_000)
    later()
    vi.advanceTimersByTime(500)
    later()
    expect(later.pending).toBe(true)
    vi.advanceTimersByTime(999)
    expect(fn).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fn).toHaveBeenCalledTimes(1)
    expect(later.pending).toBe(false)
  })

  it('still runs during an endless storm, at the ceiling', () => {
    const fn = vi.fn()
    const later = debounce(fn, 1_000, 3_000)
    for (let i = 0; i < 40; i++) {
      later()
      vi.advanceTimersByTime(200)
    }
    expect(fn.mock.calls.length).toBeGreaterThanOrEqual(2)
    expect(fn.mock.calls.length).toBeLessThanOrEqual(3)
  })

  it('can be cancelled', () => {
    const fn = vi.fn()
    const later = debounce(fn, 100, 1_000)
    later()
    later.cancel()
    vi.advanceTimersByTime(2_000)
    expect(fn).not.toHaveBeenCalled()
  })
})

describe('data age', () => {
  it('is the channel’s last word while live and nothing is pending, else the fetch time', () => {
    expect(dataAsOf(null, 50, true, false)).toBeNull()
    expect(dataAsOf(10, 50, true, false)).toBe(50)
    expect(dataAsOf(10, 50, false, false)).toBe(10)
    expect(dataAsOf(10, 50, true, true)).toBe(10)
    expect(dataAsOf(60, 50, true, false)).toBe(60)
  })
})

describe('wall scaling', () => {
  it('fits 1920x1080 into any window, letterboxed and centred', () => {
    expect(fitScale(1920, 1080)).toEqual({ scale: 1, left: 0, top: 0 })
    expect(fitScale(3840, 2160).scale).toBe(2)
    const narrow = fitScale(1440, 900)
    expect(narrow.scale).toBe(0.75)
    expect(narrow.top).toBeCloseTo((900 - 810) / 2)
  })
})
