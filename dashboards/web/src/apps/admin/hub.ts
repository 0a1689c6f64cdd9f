// Every call the administrator app makes to the hub (admin API, issue 10), typed from its OpenAPI schema. Each
// answers the data or throws an AdminProblem with the hub's explanation (lib/problem.ts).
import { api, rawFetch, type Schemas } from '@/api/client'
import { take } from './lib/problem'

export type AdminUser = Schemas['AdminUser']
export type UserCreate = Schemas['UserCreate']
export type UserUpdate = Schemas['UserUpdate']
export type District = Schemas['DistrictPublic']
export type Grid = Schemas['GridPublic']
export type GridCreate = Schemas['GridCreate']
export type GridUpdate = Schemas['GridUpdate']
export type GridImportResult = Schemas['GridImportResult']
export type FeatureCollection = Schemas['FeatureCollection']
export type Roster = Schemas['RosterPublic']
export type RosterCreate = Schemas['RosterCreate']
export type RosterUpdate = Schemas['RosterUpdate']
export type OnDuty = Schemas['OnDuty']
export type Camera = Schemas['CameraPublic']
export type CameraUpdate = Schemas['CameraUpdate']
export type RuleFile = Schemas['RuleFile']
export type RuleFileSaved = Schemas['RuleFileSaved']
export type RuleValidation = Schemas['RuleValidation']
export type AdminChange = Schemas['AdminChange']
export type Role = AdminUser['role']
export type Entity = AdminChange['entity']

export interface Page<T> {
  data: T[]
  count: number
}
export interface Paging {
  limit: number
  offset: number
}

/** Empty filter values left out of the query (the hub reads a missing parameter as "any"). */
function query<T extends object>(filters: T): { [K in keyof T]: Exclude<T[K], null | ''> } {
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== null && v !== '' && v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null | ''>
  }
}

// Users
export interface UserFilters {
  role?: Role | null
  active?: boolean | null
  district_id?: string | null
  q?: string | null
}
export const listUsers = async (f: UserFilters, p: Paging): Promise<Page<AdminUser>> =>
  take(await api.GET('/api/v1/admin/users', { params: { query: query({ ...f, ...p }) } }))
export const createUser = async (body: UserCreate): Promise<AdminUser> => take(await api.POST('/api/v1/admin/users', { body }))
export const updateUser = async (username: string, body: UserUpdate): Promise<AdminUser> =>
  take(await api.PATCH('/api/v1/admin/users/{username}', { params: { path: { username } }, body }))
export const resetPassword = async (username: string, password: string): Promise<AdminUser> =>
  take(await api.POST('/api/v1/admin/users/{username}/password', { params: { path: { username } }, body: { password } }))
export const disableUser = async (username: string): Promise<AdminUser> =>
  take(await api.POST('/api/v1/admin/users/{username}/disable', { params: { path: { username } } }))

// Districts
export const listDistricts = async (q: string | null, p: Paging): Promise<Page<District>> =>
  take(await api.GET('/api/v1/admin/districts', { params: { query: query({ q, ...p }) } }))
export const createDistrict = async (body: Schemas['DistrictCreate']): Promise<District> =>
  take(await api.POST('/api/v1/admin/districts', { body }))
export const updateDistrict = async (district_id: string, body: Schemas['DistrictUpdate']): Promise<District> =>
  take(await api.PATCH('/api/v1/admin/districts/{district_id}', { params: { path: { district_id } }, body }))
export const deleteDistrict = async (district_id: string): Promise<void> =>
  take(await api.DELETE('/api/v1/admin/districts/{district_id}', { params: { path: { district_id } } }))

// Grids
export interface GridFilters {
  district_id?: string | null
  supervisor?: string | null
  q?: string | null
}
export const listGrids = async (f: GridFilters, p: Paging): Promise<Page<Grid>> =>
  take(await api.GET('/api/v1/admin/grids', { params: { query: query({ ...f, ...p }) } }))
export const getGrid = async (grid_id: string): Promise<Grid> =>
  take(await api.GET('/api/v1/admin/grids/{grid_id}', { params: { path: { grid_id } } }))
export const createGrid = async (body: GridCreate): Promise<Grid> => take(await api.POST('/api/v1/admin/grids', { body }))
export const updateGrid = async (grid_id: string, body: GridUpdate): Promise<Grid> =>
  take(await api.PATCH('/api/v1/admin/grids/{grid_id}', { params: { path: { grid_id } }, body }))
export const deleteGrid = async (grid_id: string): Promise<void> =>
  take(await api.DELETE('/api/v1/admin/grids/{grid_id}', { params: { path: { grid_id } } }))
export const importGrids = async (body: FeatureCollection, dryRun: boolean): Promise<GridImportResult> =>
  take(await api.POST('/api/v1/admin/grids/import', { params: { query: { dry_run: dryRun } }, body }))

/** The grids as a GeoJSON file (the format the import takes back). */
export async function exportGrids(district_id: string | null): Promise<Blob> {
  const suffix = district_id ? `?district_id=${encodeURIComponent(district_id)}` : ''
  const response = await rawFetch(`/api/v1/admin/grids/export${suffix}`)
  if (!response.ok) take({ error: await response.json().catch(() => ({})), response })
  return new Blob([await response.text()], { type: 'application/geo+json' })
}

// Rosters
export interface RosterFilters {
  grid_id?: string | null
  username?: string | null
  district_id?: string | null
}
export const listRosters = async (f: RosterFilters, p: Paging): Promise<Page<Roster>> =>
  take(await api.GET('/api/v1/admin/rosters', { params: { query: query({ ...f, ...p }) } }))
export const createRoster = async (body: RosterCreate): Promise<Roster> => take(await api.POST('/api/v1/admin/rosters', { body }))
export const updateRoster = async (roster_id: string, body: RosterUpdate): Promise<Roster> =>
  take(await api.PATCH('/api/v1/admin/rosters/{roster_id}', { params: { path: { roster_id } }, body }))
export const deleteRoster = async (roster_id: string): Promise<void> =>
  take(await api.DELETE('/api/v1/admin/rosters/{roster_id}', { params: { path: { roster_id } } }))
export const onDuty = async (grid_id: string, at: string | null): Promise<OnDuty> =>
  take(await api.GET('/api/v1/admin/rosters/on-duty', { params: { query: query({ grid_id, at }) } }))

// Cameras
export interface CameraFilters {
  district?: string | null
  q?: string | null
  placed?: boolean | null
}
export const listCameras = async (f: CameraFilters, p: Paging): Promise<Page<Camera>> =>
  take(await api.GET('/api/v1/admin/cameras', { params: { query: query({ ...f, ...p }) } }))
export const updateCamera = async (camera_id: string, body: CameraUpdate): Promise<Camera> =>
  take(await api.PATCH('/api/v1/admin/cameras/{camera_id}', { params: { path: { camera_id } }, body }))

// Rule files
export const listRuleFiles = async (): Promise<Page<RuleFile>> => take(await api.GET('/api/v1/admin/rules'))
export const validateRuleFile = async (name: string, text: string): Promise<RuleValidation> =>
  take(await api.POST('/api/v1/admin/rules/{name}/validate', { params: { path: { name } }, body: { text } }))
export const saveRuleFile = async (name: string, text: string, base_sha256: string | null): Promise<RuleFileSaved> =>
  take(await api.PUT('/api/v1/admin/rules/{name}', { params: { path: { name } }, body: { text, base_sha256 } }))

// Change record
export interface ChangeFilters {
  entity?: Entity | null
  entity_id?: string | null
  actor?: string | null
  since?: string | null
  until?: string | null
}
export const listChanges = async (f: ChangeFilters, p: Paging): Promise<Page<AdminChange>> =>
  take(await api.GET('/api/v1/admin/changes', { params: { query: query({ ...f, ...p }) } }))
