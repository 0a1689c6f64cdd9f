// The officer's task list as data (order, live messages, arrivals), the actions predicted while offline, and the
// time of a photo read from its EXIF.
import { describe, expect, it } from 'vitest'
import { afterTransition, assigneeActions, sortActions } from '@/apps/officer/data/lifecycle'
import { applyLive, compareUrgency, mergeLists, type Task } from '@/apps/officer/data/taskList'
import { exifTime } from '@/apps/officer/services/photos'

function task(id: number, fields: Partial<Task> = {}): Task {
  return {
    id,
    incident_id: id,
    kind: 'illegal_parking',
    subtype: null,
    severity: 'yellow',
    status: 'dispatched',
    assignee: 'officer1',
    handled_by: null,
    suspended_from: null,
    grid_id: 'nj-gulou-01',
    district: 'nj-gulou',
    due_at: '2026-12-03T10:00:00+08:00',
    created_at: '2026-12-03T08:00:00+08:00',
    updated_at: '2026-12-03T08:00:00+08:00',
    ...fields,
  }
}

const ids = (tasks: Task[]): number[] => tasks.map((t) => t.id)

describe('task list', () => {
  it('puts what needs the officer first, then the most urgent colour, then the nearest deadline', () => {
    const tasks = [
      task(1, { severity: 'blue', due_at: '2026-12-03T08:30:00+08:00' }),
      task(2, { severity: 'red', due_at: '2026-12-03T12:00:00+08:00' }),
      task(3, { severity: 'red', due_at: '2026-12-03T09:00:00+08:00' }),
      task(4, { severity: 'red', status: 'resolved' }),
      task(5, { severity: 'red', status: 'suspended', due_at: null }),
      task(6, { severity: 'red', due_at: null }),
    ]
    expect(ids([...tasks].sort(compareUrgency))).toEqual([3, 2, 6, 1, 5, 4])
  })

  it('merges the per-status lists, keeping the newest copy of an order that moved between them', () => {
    const moved = task(1, { status: 'accepted', updated_at: '2026-12-03T08:05:00+08:00' })
    const merged = mergeLists([[task(1)], [moved, task(2, { severity: 'red' })], [task(3, { status: 'closed' })]])
    expect(ids(merged)).toEqual([2, 1])
    expect(merged[1].status).toBe('accepted')
  })

  it('adds a new task from the live channel and says it arrived, unless the officer caused it', () => {
    const row = { ...task(9, { severity: 'red' }), camera_id: 'cam-demo-01', incident_status: 'open' }
    const created = applyLive([task(1)], { op: 'created', data: { work_order: row, steps: [{ actor: 'system' }] } }, 'officer1')
    expect(ids(created.tasks)).toEqual([9, 1])
    expect(created.arrived?.id).toBe(9)

    const accepted = { ...row, status: 'accepted' }
    const mine = applyLive(created.tasks, { op: 'transition', data: { work_order: accepted, steps: [{ actor: 'officer1' }] } }, 'officer1')
    expect(mine.arrived).toBeNull()
    expect(mine.tasks.find((t) => t.id === 9)?.status).toBe('accepted')
  })

  it('drops an order that left the officer: closed, false alarm, or taken away', () => {
    const tasks = [task(1), task(2)]
    const closed = applyLive(tasks, { op: 'transition', data: { work_order: task(1, { status: 'false_alarm' }) } }, 'officer1')
    expect(ids(closed.tasks)).toEqual([2])
    const taken = applyLive(tasks, { op: 'unassigned', data: { work_order: { id: 2, assignee: 'officer3' } } }, 'officer1')
    expect(ids(taken.tasks)).toEqual([1])
  })

  it('does not call a photo or a deadline change a new task', () => {
    for (const op of ['photo', 'updated']) {
      const outcome = applyLive([], { op, data: { work_order: task(4, { severity: 'red' }) } }, 'officer1')
      expect(ids(outcome.tasks)).toEqual([4])
      expect(outcome.arrived).toBeNull()
    }
  })

  it('ignores a message without the fields a row needs', () => {
    const outcome = applyLive([task(1)], { op: 'updated', data: { work_order: { id: 1, status: 'dispatched' } } }, 'officer1')
    expect(ids(outcome.tasks)).toEqual([1])
    expect(outcome.arrived).toBeNull()
  })
})

describe('actions while offline', () => {
  it('predicts the main line of an assignee: accept, on site, resolve', () => {
    let state = { status: 'dispatched', suspended_from: null as string | null }
    expect(assigneeActions(state)).toEqual(['accepted', 'suspended', 'false_alarm'])
    state = afterTransition(state, 'accepted')
    state = afterTransition(state, 'on_site')
    expect(assigneeActions(state)).toContain('resolved')
    expect(assigneeActions(afterTransition(state, 'resolved'))).toEqual([]) // a reviewer verifies
  })

  it('resumes a suspended order where it left off, and offers that first', () => {
    const suspended = afterTransition({ status: 'on_site', suspended_from: null }, 'suspended')
    expect(suspended).toEqual({ status: 'suspended', suspended_from: 'on_site' })
    expect(assigneeActions(suspended)).toEqual(['on_site'])
    expect(sortActions(['false_alarm', 'suspended', 'on_site'], { status: 'accepted', suspended_from: null })).toEqual([
      'on_site',
      'suspended',
      'false_alarm',
    ])
  })
})

describe('photo time from EXIF', () => {
  it('uses the offset the camera wrote', () => {
    expect(exifTime('2026:12:03 09:41:07', '+08:00')).toBe('2026-12-03T09:41:07+08:00')
  })

  it('reads a time without offset in the phone’s zone', () => {
    expect(exifTime('2026:12:03 09:41:07', undefined)).toBe(new Date(2026, 11, 3, 9, 41, 7).toISOString())
  })

  it('ignores what is not an EXIF time', () => {
    expect(exifTime(undefined, undefined)).toBeNull()
    expect(exifTime('yesterday', '+08:00')).toBeNull()
  })
})
