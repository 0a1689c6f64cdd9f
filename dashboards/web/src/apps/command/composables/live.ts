// Live-channel helpers for components: subscriptions that end with the component, and batched repaints.
import { getCurrentInstance, onBeforeUnmount, watch } from 'vue'
import type { LiveMessage, Topic } from '@/live/channel'
import { live } from '../live'

/** Subscribe for the lifetime of the calling component. */
export function onLive(topic: Topic | 'resync', handler: (message: LiveMessage) => void): void {
  const off = live.on(topic, handler)
  if (getCurrentInstance()) onBeforeUnmount(off)
}

/** A function that runs `fn` at most once per `ms` however often it is called (repaint after a burst of messages). */
export function coalesce(fn: () => void, ms = 100): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined
  if (getCurrentInstance()) onBeforeUnmount(() => clearTimeout(timer))
  return () => {
    timer ??= setTimeout(() => {
      timer = undefined
      fn()
    }, ms)
  }
}

/** The message text of a failed request. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Closes the gap between a REST load and the live stream: a load made while the channel was not live (before its
 * first `hello`, which streams only from then on) may miss what changed in between, so `reload` runs again once the
 * channel is live. Call the returned function when a load starts.
 */
export function reloadOnceLive(reload: () => void): () => void {
  let blind = false
  const stop = watch(live.state, (state) => {
    if (state === 'live' && blind) {
      blind = false
      reload()
    }
  })
  if (getCurrentInstance()) onBeforeUnmount(stop)
  return () => {
    blind = live.state.value !== 'live'
  }
}
