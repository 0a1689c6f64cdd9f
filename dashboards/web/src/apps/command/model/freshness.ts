// When panels refetch and how old their data is.

export interface Debounced {
  (): void
  cancel(): void
  readonly pending: boolean
}

/**
 * Calls `fn` once `waitMs` have passed without another call, but at the latest `maxWaitMs` after the first call of
 * a burst: a quiet channel refreshes a panel at once, a storm of messages refreshes it steadily, never per message.
 */
export function debounce(fn: () => void, waitMs: number, maxWaitMs: number): Debounced {
  let timer: ReturnType<typeof setTimeout> | undefined
  let first: number | null = null
  const run = (): void => {
    clearTimeout(timer)
    timer = undefined
    first = null
    fn()
  }
  const call = (() => {
    const now = Date.now()
    first ??= now
    clearTimeout(timer)
    timer = setTimeout(run, Math.max(0, Math.min(waitMs, first + maxWaitMs - now)))
  }) as Debounced
  call.cancel = () => {
    clearTimeout(timer)
    timer = undefined
    first = null
  }
  Object.defineProperty(call, 'pending', { get: () => timer !== undefined })
  return call
}

/**
 * How current a panel's data is (ms since the epoch), for DataAge. While the live channel is up and no refetch is
 * waiting, nothing has changed since the channel last spoke (`liveAt`), so the data is as of then; otherwise it is
 * as old as the fetch.
 */
export function dataAsOf(fetchedAt: number | null, liveAt: number | null, live: boolean, pending: boolean): number | null {
  if (fetchedAt === null) return null
  if (!live || pending || liveAt === null) return fetchedAt
  return Math.max(fetchedAt, liveAt)
}
