import { beforeEach, describe, expect, it } from 'vitest'
import { i18n } from '@/i18n'
import { ageLabel, dueLabel, formatDuration } from '@/shared/time'

describe('durations and deadlines', () => {
  beforeEach(() => {
    i18n.global.locale.value = 'zh-CN'
  })

  it('shows the two largest units', () => {
    expect(formatDuration(0)).toBe('0秒')
    expect(formatDuration(45_000)).toBe('45秒')
    expect(formatDuration((2 * 3600 + 5 * 60 + 7) * 1000)).toBe('2小时5分钟')
    expect(formatDuration((3 * 86400 + 4 * 3600 + 59) * 1000)).toBe('3天4小时')
    i18n.global.locale.value = 'en'
    expect(formatDuration((2 * 3600 + 5 * 60) * 1000)).toBe('2 h 5 min')
  })

  it('counts down to a deadline and up past it', () => {
    const now = Date.parse('2026-12-03T08:00:00Z')
    expect(dueLabel('2026-12-03T09:30:00Z', now)).toEqual({ text: '剩余 1小时30分钟', overdue: false })
    expect(dueLabel('2026-12-03T07:48:00Z', now)).toEqual({ text: '已超时 12分钟', overdue: true })
    expect(dueLabel(null, now).overdue).toBe(false)
  })

  it('says how old data is', () => {
    const now = 1_000_000
    expect(ageLabel(null, now)).toBe('尚未加载')
    expect(ageLabel(now - 2_000, now)).toBe('刚刚更新')
    expect(ageLabel(now - 42_000, now)).toBe('42 秒前更新')
    i18n.global.locale.value = 'en'
    expect(ageLabel(now - 3 * 60_000, now)).toBe('Updated 3 min ago')
  })
})
