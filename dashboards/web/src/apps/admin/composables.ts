// What the list screens share: a server-side paged list with filters (a new filter goes back to page 1; typing in
// a search box waits for a pause), its loading state, the hub's refusal, and the time it was loaded.
import { onMounted, reactive, ref, shallowRef, watch, type Ref, type ShallowRef } from 'vue'
import { asProblem, type AdminProblem } from './lib/problem'
import type { Page, Paging } from './hub'

export interface PagedList<T, F> {
  filters: F
  rows: ShallowRef<T[]>
  count: Ref<number>
  page: Ref<number>
  pageSize: Ref<number>
  loading: Ref<boolean>
  problem: ShallowRef<AdminProblem | null>
  loadedAt: Ref<number | null>
  load: () => Promise<void>
}

export function usePagedList<T, F extends object>(
  fetchPage: (filters: F, paging: Paging) => Promise<Page<T>>,
  initial: F,
  pageSize = 50,
): PagedList<T, F> {
  const filters = reactive({ ...initial }) as F
  const rows = shallowRef<T[]>([])
  const count = ref(0)
  const page = ref(1)
  const size = ref(pageSize)
  const loading = ref(false)
  const problem = shallowRef<AdminProblem | null>(null)
  const loadedAt = ref<number | null>(null)
  let seq = 0

  async function load(): Promise<void> {
    const mine = ++seq
    loading.value = true
    try {
      const answer = await fetchPage({ ...filters } as F, { limit: size.value, offset: (page.value - 1) * size.value })
      if (mine !== seq) return // an older request answered late: a newer one is under way
      rows.value = answer.data
      count.value = answer.count
      loadedAt.value = Date.now()
      problem.value = null
    } catch (error) {
      if (mine === seq) problem.value = asProblem(error)
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  watch(
    () => JSON.stringify(filters),
    () => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        if (page.value === 1) void load()
        else page.value = 1
      }, 250)
    },
  )
  watch([page, size], () => void load())
  onMounted(() => void load())
  return { filters, rows, count, page, pageSize: size, loading, problem, loadedAt, load }
}

/** A request in flight with its refusal: `run` answers true when it went through. */
export function useAction(): { busy: Ref<boolean>; problem: ShallowRef<AdminProblem | null>; run: (fn: () => Promise<unknown>) => Promise<boolean> } {
  const busy = ref(false)
  const problem = shallowRef<AdminProblem | null>(null)
  async function run(fn: () => Promise<unknown>): Promise<boolean> {
    busy.value = true
    problem.value = null
    try {
      await fn()
      return true
    } catch (error) {
      problem.value = asProblem(error)
      return false
    } finally {
      busy.value = false
    }
  }
  return { busy, problem, run }
}
