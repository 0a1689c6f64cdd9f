import { describe, expect, it } from 'vitest'
import { lineInMessage, lineOfPath } from '@/apps/admin/lib/yamlPath'
import { slaView } from '@/apps/admin/lib/sla'

const SLA = `# SLA
version: 1
calendars:
  always:
    timezone: Asia/Shanghai
    always: true
  office:
    timezone: Asia/Shanghai
    weekdays: [mon, tue]
    hours: ["08:30", "17:30"]
severity_calendar:
  red: always
default: {red: 30, orange: 120, yellow: 240, blue: 480}
kinds:
  illegal_parking: {red: 15, orange: 30, yellow: 60, blue: 120}
  waterlogging:
    red: 30
    orange: 60
`

const SEVERITY = `version: 1
default: yellow
rules:
  - kind: camera_fault
    severity: blue

  - kind: waterlogging
    measurement: water_depth_cm
    gte: 40
    severity: red
`

describe('the line a rule error points at', () => {
  it('follows block mappings by indentation', () => {
    expect(lineOfPath(SLA, ['calendars', 'office', 'hours'])).toBe(10)
    expect(lineOfPath(SLA, ['kinds', 'waterlogging', 'orange'])).toBe(18)
    expect(lineOfPath(SLA, ['severity_calendar'])).toBe(11)
  })

  it('does not take a grandchild for a child of the same name', () => {
    // "timezone" exists only under the calendars: the top level has none, so no line (not a nested one)
    expect(lineOfPath(SLA, ['timezone'])).toBeNull()
    expect(lineOfPath(SLA, ['calendars', 'always', 'always'])).toBe(6)
  })

  it('points a key of a flow mapping, or a missing key, at its parent line', () => {
    expect(lineOfPath(SLA, ['kinds', 'illegal_parking', 'red'])).toBe(15)
    expect(lineOfPath(SLA, ['kinds', 'waterlogging', 'blue'])).toBe(16)
    expect(lineOfPath(SLA, ['default', 'red'])).toBe(13)
  })

  it('follows list items', () => {
    expect(lineOfPath(SEVERITY, ['rules', 1, 'gte'])).toBe(9)
    expect(lineOfPath(SEVERITY, ['rules', 0, 'kind'])).toBe(4)
    expect(lineOfPath(SEVERITY, ['rules', 1])).toBe(7)
    expect(lineOfPath(SEVERITY, ['rules', 5])).toBe(3)
  })

  it('reads the line of a YAML syntax error', () => {
    expect(lineInMessage('not valid YAML at line 7, column 3: mapping values are not allowed here')).toBe(7)
    expect(lineInMessage('Input should be greater than 0')).toBeNull()
  })
})

describe('the SLA table', () => {
  it('lists the default row first, then each kind by name, and each severity calendar', () => {
    const view = slaView({
      default: { red: 30, orange: 120, yellow: 240, blue: 480 },
      kinds: { waterlogging: { red: 30, orange: 60, yellow: 120, blue: 240 }, camera_fault: { red: 1, orange: 2, yellow: 3, blue: 4 } },
      severity_calendar: { red: 'always', orange: 'office', yellow: 'office', blue: 'office' },
      calendars: { always: { always: true, timezone: 'Asia/Shanghai' }, office: { hours: ['08:30', '17:30'], weekdays: [1, 2, 3, 4, 5] } },
    })
    expect(view?.rows.map((r) => r.kind)).toEqual([null, 'camera_fault', 'waterlogging'])
    expect(view?.rows[2].minutes.orange).toBe(60)
    expect(view?.severityCalendar[1]).toEqual({ severity: 'orange', calendar: 'office' })
    expect(view?.calendars.find((c) => c.name === 'office')?.hours).toEqual(['08:30', '17:30'])
  })

  it('is null for content that is not an SLA file', () => {
    expect(slaView(null)).toBeNull()
    expect(slaView({ rules: [] })).toBeNull()
  })
})
