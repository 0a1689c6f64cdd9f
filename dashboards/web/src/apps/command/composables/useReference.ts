// Reference data the filters and actions choose from, loaded once per page: districts and grids
// (GET /api/v1/geo/areas) and the officers work can go to (GET /api/v1/admin/users?role=officer, readable by
// commanders).
import { ref } from 'vue'
import { api, unwrap } from '@/api/client'

export interface Area {
  id: string
  name: string
  district_id?: string | null
}

const districts = ref<Area[]>([])
const grids = ref<Area[]>([])
const officers = ref<Array<{ username: string; display_name?: string | null }>>([])
let areasLoaded: Promise<void> | null = null
let officersLoaded: Promise<void> | null = null

interface AreaFeature {
  properties: { kind: 'district' | 'grid'; id: string; name: string; district_id?: string | null }
}

export function useAreas() {
  areasLoaded ??= api
    .GET('/api/v1/geo/areas', {})
    .then(unwrap)
    .then((collection) => {
      const features = (collection as unknown as { features: AreaFeature[] }).features
      const of = (kind: string): Area[] =>
        features.filter((f) => f.properties.kind === kind).map(({ properties: p }) => ({ id: p.id, name: p.name, district_id: p.district_id }))
      districts.value = of('district')
      grids.value = of('grid')
    })
    .catch(() => {
      areasLoaded = null // try again next time
    })
  return { districts, grids }
}

export function useOfficers() {
  officersLoaded ??= api
    .GET('/api/v1/admin/users', { params: { query: { role: 'officer', active: true, limit: 1000 } } })
    .then(unwrap)
    .then((page) => {
      officers.value = page.data.map((u) => ({ username: u.username, display_name: u.display_name }))
    })
    .catch(() => {
      officersLoaded = null
    })
  return { officers }
}

/** "Wang Fang (officer1)", or the username alone when there is no other name. */
export function personLabel(username: string | null | undefined): string {
  if (!username) return '—'
  return optionLabel(officers.value.find((o) => o.username === username) ?? { username })
}

export function optionLabel(person: { username: string; display_name?: string | null }): string {
  const name = person.display_name?.trim()
  return name && name !== person.username ? `${name} (${person.username})` : person.username
}
