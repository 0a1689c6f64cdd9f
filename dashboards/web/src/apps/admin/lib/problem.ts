// The hub answers every refusal as an RFC 9457 problem: `detail` says what is wrong and how to fix it, and `errors`
// ({loc, msg, type}) names each bad field (a grid import lists every bad feature; a rule file each bad key). The
// administrator screens show both, so the hub's own words reach the person who can act on them.
import { ApiError } from '@/api/client'

export interface ProblemItem {
  loc: Array<string | number>
  msg: string
  type: string
}

export class AdminProblem extends ApiError {
  constructor(
    status: number,
    detail: string,
    type: string | undefined,
    readonly errors: ProblemItem[],
  ) {
    super(status, detail, type)
  }
}

/** The data of an openapi-fetch answer, or an AdminProblem carrying the hub's detail and field errors. */
export function take<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error === undefined && (result.data !== undefined || result.response.status === 204)) {
    return result.data as T
  }
  const problem = (result.error ?? {}) as { detail?: unknown; type?: string; errors?: unknown }
  const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${result.response.status}`
  const errors = Array.isArray(problem.errors) ? (problem.errors as ProblemItem[]) : []
  throw new AdminProblem(result.response.status, detail, problem.type, errors)
}

/** ["body", "features", 2, "properties", "name"] -> "features[2].properties.name"; the request part is dropped. */
export function fieldPath(loc: ReadonlyArray<string | number>, skip: ReadonlyArray<string> = ['body', 'query', 'path']): string {
  const parts = loc.length > 1 && skip.includes(String(loc[0])) ? loc.slice(1) : loc
  let text = ''
  for (const part of parts) text += typeof part === 'number' ? `[${part}]` : text ? `.${part}` : part
  return text
}

/** The feature index of an import error (loc ["body", "features", i, ...]), or null. */
export function featureIndex(loc: ReadonlyArray<string | number>): number | null {
  const at = loc.indexOf('features')
  const index = at >= 0 ? loc[at + 1] : undefined
  return typeof index === 'number' ? index : null
}

/** Any thrown value as something to show: the hub's problem, a network failure, or a plain error. */
export function asProblem(error: unknown): AdminProblem {
  if (error instanceof AdminProblem) return error
  if (error instanceof ApiError) return new AdminProblem(error.status, error.message, error.type, [])
  const message = error instanceof Error ? error.message : String(error)
  return new AdminProblem(0, message, undefined, [])
}
