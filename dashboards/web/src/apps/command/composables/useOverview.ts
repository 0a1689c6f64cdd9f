// Everything the overview and the wall show, wired once: open incidents and the fleet for the map (live), and the
// figure panels for a time range (refetched, debounced, when a message that changes them arrives).
import { computed, ref, type Ref } from 'vue'
import { useI18n } from 'vue-i18n'
import { api, unwrap } from '@/api/client'
import { useNow } from '@/shared/time'
import { falseAlarmChart, fleetChart, incidentsChart, slaChart, type ChartLabels } from '../model/charts'
import type { IncidentFilter, IncidentSort } from '../model/incidents'
import { isoDay, type Span, type TimeRange } from '../model/timeRange'
import { useAreas } from './useReference'
import { useFleet } from './useFleet'
import { useIncidents } from './useIncidents'
import { useStatsPanel } from './useStatsPanel'

const iso = (at: Date): string => at.toISOString()

function days(span: Span): string[] {
  const out: string[] = []
  const day = new Date(span.since)
  day.setHours(0, 0, 0, 0)
  for (; day < span.until; day.setDate(day.getDate() + 1)) out.push(isoDay(day))
  return out
}

export function useOverview(range: Ref<TimeRange>) {
  const { t, locale } = useI18n()
  const { districts } = useAreas()
  const openFilter = ref<IncidentFilter>({ status: ['open'], kind: [], severity: [] })
  const incidents = useIncidents(openFilter, ref<IncidentSort>('severity'), 1000)
  const fleet = useFleet()
  const now = useNow(15_000)

  const summary = useStatsPanel(range, ['incident', 'work_order', 'device'], async (span) =>
    unwrap(await api.GET('/api/v1/stats/summary', { params: { query: { since: iso(span.since), until: iso(span.until) } } })),
  )
  const hourly = (by: 'kind' | 'district') =>
    useStatsPanel(range, ['incident'], async (span) =>
      unwrap(
        await api.GET('/api/v1/stats/incidents-hourly', {
          params: { query: { since: iso(span.since), until: iso(span.until), by: [by], limit: 10_000 } },
        }),
      ),
    )
  const byKind = hourly('kind')
  const byDistrict = hourly('district')
  const sla = useStatsPanel(range, ['work_order'], async (span) =>
    unwrap(
      await api.GET('/api/v1/stats/sla-daily', {
        params: { query: { since: isoDay(span.since), until: isoDay(span.until), by: ['kind'] } },
      }),
    ),
  )
  const precision = (by: 'camera' | 'model') =>
    useStatsPanel(range, ['work_order'], async (span) =>
      unwrap(
        await api.GET('/api/v1/stats/precision', {
          params: { query: { since: iso(span.since), until: iso(span.until), by, limit: 200 } },
        }),
      ),
    )
  const byCamera = precision('camera')
  const byModel = precision('model')

  const labels = (group: (key: string | null) => string, columns?: string[]): ChartLabels => ({
    group,
    columns,
    timeColumn: t('command.charts.time'),
    percent: (v) => `${(v * 100).toFixed(1)} %`,
    time: (ms, bucket) => {
      const at = new Date(ms)
      if (bucket >= 86_400_000) return at.toLocaleDateString(locale.value, { month: 'numeric', day: 'numeric' })
      return at.toLocaleString(locale.value, { day: 'numeric', hour: '2-digit', minute: '2-digit' })
    },
  })
  const kindLabel = (k: string | null): string => (k ? t(`common.kinds.${k}`) : t('command.charts.none'))
  const districtLabel = (k: string | null): string =>
    k ? (districts.value.find((d) => d.id === k)?.name ?? k) : t('command.charts.none')
  const plain = (k: string | null): string => k ?? t('command.charts.none')

  const charts = {
    byKind: computed(() =>
      byKind.data.value ? incidentsChart(byKind.data.value.data, 'kind', byKind.span.value, labels(kindLabel)) : null,
    ),
    byDistrict: computed(() =>
      byDistrict.data.value
        ? incidentsChart(byDistrict.data.value.data, 'district', byDistrict.span.value, labels(districtLabel))
        : null,
    ),
    sla: computed(() =>
      sla.data.value
        ? slaChart(sla.data.value.data, days(sla.span.value), { ...labels(kindLabel), all: t('command.charts.allKinds') })
        : null,
    ),
    byCamera: computed(() =>
      byCamera.data.value
        ? falseAlarmChart(byCamera.data.value.data, 'camera', labels(plain, [t('command.charts.camera'), t('command.charts.falseAlarmRate')]))
        : null,
    ),
    byModel: computed(() =>
      byModel.data.value
        ? falseAlarmChart(byModel.data.value.data, 'model', labels(plain, [t('command.charts.model'), t('command.charts.falseAlarmRate')]))
        : null,
    ),
    fleet: computed(() =>
      summary.data.value
        ? fleetChart(
            summary.data.value.fleet,
            labels((k) => t(`common.deviceStatus.${k}`), [t('command.charts.status'), t('command.charts.devices')]),
          )
        : null,
    ),
  }
  return { incidents, fleet, now, summary, panels: { byKind, byDistrict, sla, byCamera, byModel }, charts }
}
