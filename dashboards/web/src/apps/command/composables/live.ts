// Live-channel helpers for components: subscriptions that end with the component, and batched repaints.
import { getCurrentInstance, onBeforeUnmount } from 'vue'
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
