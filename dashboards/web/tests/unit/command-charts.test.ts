import { describe, expect, it } from 'vitest'
import { bins, falseAlarmChart, fleetChart, incidentsChart, slaChart, type ChartLabels } from '@/apps/command/model/charts'

const labels: ChartLabels = {
  group: (k) => k ?? 'none',
  time: (ms) => new Date(ms).toISOString().slice(11, 16),
  percent: (v) => `${(v * 100).toFixed(1)} %`,
  timeColumn: 'time',
}
const span = { since: new Date('2026-03-01T06:30:00Z'), until: new Date('2026-03-01T09:30:00Z') }

describe('incidents per hour', () => {
  const rows = [
    { bucket: '2026-03-01T07:00:00Z', kind: 'waterlogging', incidents: 2 },
    { bucket: '2026-03-01T07:00:00Z', kind: 'illegal_parking', incidents: 5 },
    { bucket: '2026-03-01T09:00:00Z', kind: 'illegal_parking', incidents: 1 },
  ]

  it('has one bar per hour of the range and one stacked series per kind, biggest first', () => {
    expect(bins(span, 3_600_000).map((b) => new Date(b).toISOString().slice(11, 16))).toEqual(['06:00', '07:00', '08:00', '09:00'])
    const chart = incidentsChart(rows, 'kind', span, labels)
    const series = chart.option.series as Array<{ name: string; data: number[] }>
    expect(series.map((s) => s.name)).toEqual(['illegal_parking', 'waterlogging'])
    expect(series[0].data).toEqual([0, 5, 0, 1])
    expect(series[1].data).toEqual([0, 2, 0, 0])
  })

  it('drills down to that kind in that hour', () => {
    const chart = incidentsChart(rows, 'kind', span, labels)
    expect(chart.drill(1, 1)).toEqual({
      kind: ['waterlogging'],
      since: '2026-03-01T07:00:00.000Z',
      until: '2026-03-01T08:00:00.000Z',
    })
    expect(chart.drill(5, 0)).toBeNull()
  })

  it('gives the figures as a table with links on non-empty cells', () => {
    const chart = incidentsChart(rows, 'district', span, labels)
    expect(chart.table.columns).toEqual(['time', 'none'])
    expect(chart.table.rows.map((r) => r.label)).toEqual(['07:00', '09:00'])
    expect(chart.table.rows[0].cells[0]).toMatchObject({ text: '7', drill: { since: '2026-03-01T07:00:00.000Z' } })
  })
})

describe('SLA compliance', () => {
  it('computes the rate per day for all kinds and per kind, leaving gaps where nothing was decided', () => {
    const rows = [
      { day: '2026-03-01', kind: 'illegal_parking', due: 4, met: 3, breached: 1, overdue_open: 0, false_alarm: 0, compliance: 0.75, refreshed_at: '' },
      { day: '2026-03-01', kind: 'waterlogging', due: 1, met: 0, breached: 1, overdue_open: 0, false_alarm: 0, compliance: 0, refreshed_at: '' },
    ]
    const chart = slaChart(rows, ['2026-02-28', '2026-03-01'], { ...labels, all: 'all' })
    const series = chart.option.series as Array<{ name: string; data: Array<number | null> }>
    expect(series.map((s) => s.name)).toEqual(['all', 'illegal_parking', 'waterlogging'])
    expect(series[0].data).toEqual([null, 60])
    expect(series[1].data).toEqual([null, 75])
    expect(chart.drill(1, 0)).toBeNull()
    expect(chart.drill(2, 1)).toMatchObject({ kind: ['waterlogging'] })
    expect(chart.drill(0, 1)).not.toHaveProperty('kind')
  })
})

describe('false alarms', () => {
  it('shows the worst first and drills down by camera, not by model', () => {
    const rows = [
      { camera_id: 'cam-a', decided: 10, true_positives: 9, false_alarms: 1, precision: 0.9 },
      { camera_id: 'cam-b', decided: 4, true_positives: 2, false_alarms: 2, precision: 0.5 },
    ]
    const chart = falseAlarmChart(rows, 'camera', labels)
    expect((chart.option.series as Array<{ data: number[] }>)[0].data).toEqual([50, 10])
    expect(chart.drill(0, 0)).toEqual({ camera: 'cam-b' })
    const models = falseAlarmChart([{ model_name: 'yolo', decided: 2, true_positives: 1, false_alarms: 1, precision: 0.5 }], 'model', labels)
    expect(models.drill(0, 0)).toBeNull()
  })
})

describe('fleet', () => {
  it('drills from unhealthy slices to open camera faults', () => {
    const chart = fleetChart({ total: 5, online: 3, stale: 1, offline: 1, never_seen: 0, cameras_with_open_fault: 1 }, labels)
    expect(chart.drill(0, 0)).toBeNull()
    expect(chart.drill(0, 2)).toEqual({ kind: ['camera_fault'], status: ['open'] })
    expect(chart.empty).toBe(false)
  })
})
