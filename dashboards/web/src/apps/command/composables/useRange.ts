// The overview's time range, kept in the URL (?range=24h or ?range=<since>/<until>) so a view can be shared.
import { computed } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { rangeFromQuery, rangeToQuery, type TimeRange } from '../model/timeRange'

export function useRange() {
  const route = useRoute()
  const router = useRouter()
  return computed<TimeRange>({
    get: () => rangeFromQuery(route.query.range),
    set: (value) => void router.replace({ query: { ...route.query, range: rangeToQuery(value) } }),
  })
}
