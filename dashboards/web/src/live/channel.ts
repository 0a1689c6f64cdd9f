// The live channel (GET /api/v1/live, server-sent events). The browser's EventSource reconnects by itself and sends
// Last-Event-ID, so nothing is missed across short drops; this wrapper adds what it lacks: a fresh access token
// when the hub ends the stream (`reauth`) or refuses a reconnect, a watchdog for silent half-open connections (the
// hub sends `ping` when idle), the state the stale-data banner shows, and `resync` when the hub could not replay
// everything (the app then reloads its lists).
import { ref } from 'vue'
import { accessToken } from '@/auth/session'

export type Topic = 'incident' | 'work_order' | 'device' | 'mode'
export type LiveState = 'connecting' | 'live' | 'stale'

export interface LiveMessage<T = Record<string, unknown>> {
  id: string
  topic: Topic
  op: string
  at: string
  data: T
}

type Handler = (message: LiveMessage) => void
const STALE_AFTER_MS = 2_000 // a reconnect quicker than this does not flash the banner
const SILENT_MS = 45_000 // the hub pings every 15 s; this long without a sound means the connection is dead

export class LiveChannel {
  readonly state = ref<LiveState>('connecting')
  /** When the last message (or ping) arrived, ms since the epoch. */
  readonly lastActivity = ref<number | null>(null)
  /** When the channel was last known live: the "data as of" time while stale. */
  readonly liveAt = ref<number | null>(null)
  lastId: string | null = null
  private source: EventSource | null = null
  private handlers = new Map<string, Set<Handler>>()
  private retryMs = 1_000
  private staleTimer: ReturnType<typeof setTimeout> | undefined
  private reopenTimer: ReturnType<typeof setTimeout> | undefined
  private watchdog: ReturnType<typeof setInterval> | undefined
  private stopped = true

  constructor(private readonly topics: Topic[] = []) {}

  /** Subscribe to a topic, or to 'resync'; returns the unsubscribe function. */
  on(topic: Topic | 'resync', handler: Handler): () => void {
    const set = this.handlers.get(topic) ?? new Set<Handler>()
    set.add(handler)
    this.handlers.set(topic, set)
    return () => set.delete(handler)
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    window.addEventListener('online', this.reopenNow)
    window.addEventListener('offline', this.dropNow)
    document.addEventListener('visibilitychange', this.onVisible)
    this.watchdog = setInterval(() => {
      const last = this.lastActivity.value
      if (this.state.value === 'live' && last !== null && Date.now() - last > SILENT_MS) this.reopenNow()
    }, 5_000)
    void this.open()
  }

  stop(): void {
    this.stopped = true
    window.removeEventListener('online', this.reopenNow)
    window.removeEventListener('offline', this.dropNow)
    document.removeEventListener('visibilitychange', this.onVisible)
    clearInterval(this.watchdog)
    clearTimeout(this.staleTimer)
    clearTimeout(this.reopenTimer)
    this.source?.close()
    this.source = null
  }

  private onVisible = (): void => {
    if (document.visibilityState === 'visible' && this.state.value !== 'live') this.reopenNow()
  }

  private reopenNow = (): void => {
    if (this.stopped) return
    clearTimeout(this.reopenTimer)
    this.source?.close()
    this.source = null
    this.markStale()
    void this.open()
  }

  // The browser knows the network is gone: the stream is dead even if no error has reached it yet (a half-open
  // connection can stay silent until the watchdog notices), so the banner shows now; 'online' reopens at once.
  private dropNow = (): void => {
    if (this.stopped) return
    this.source?.close()
    this.source = null
    this.markStale()
    this.scheduleReopen()
  }

  private markStale(): void {
    clearTimeout(this.staleTimer)
    this.staleTimer = setTimeout(() => {
      if (this.state.value !== 'live' || !this.source || this.source.readyState !== EventSource.OPEN) {
        this.state.value = 'stale'
      }
    }, STALE_AFTER_MS)
    if (this.state.value === 'live') this.state.value = 'connecting'
  }

  private async open(): Promise<void> {
    const token = await accessToken()
    if (this.stopped) return
    if (!token) {
      this.state.value = 'stale'
      this.scheduleReopen()
      return
    }
    const params = new URLSearchParams({ access_token: token })
    if (this.topics.length) params.set('topics', this.topics.join(','))
    if (this.lastId) params.set('last_event_id', this.lastId)
    const source = new EventSource(`/api/v1/live?${params}`)
    this.source = source
    const heard = (): void => {
      this.lastActivity.value = Date.now()
    }
    source.addEventListener('hello', () => {
      heard()
      this.retryMs = 1_000
      clearTimeout(this.staleTimer)
      this.state.value = 'live'
      this.liveAt.value = Date.now()
    })
    source.addEventListener('ping', () => {
      heard()
      this.liveAt.value = Date.now()
    })
    for (const topic of ['incident', 'work_order', 'device', 'mode'] as const) {
      source.addEventListener(topic, (event) => {
        heard()
        this.liveAt.value = Date.now()
        const message = event as MessageEvent<string>
        this.lastId = message.lastEventId || this.lastId
        this.emit(topic, JSON.parse(message.data) as LiveMessage)
      })
    }
    source.addEventListener('resync', (event) => {
      heard()
      this.lastId = (event as MessageEvent<string>).lastEventId || this.lastId
      this.emit('resync', { id: this.lastId ?? '', topic: 'mode', op: 'resync', at: new Date().toISOString(), data: {} })
    })
    source.addEventListener('reauth', () => this.reopenNow())
    source.onerror = () => {
      if (this.source !== source) return
      this.markStale()
      if (source.readyState === EventSource.CLOSED) {
        // Refused (e.g. the token expired meanwhile): EventSource gives up; open again with a fresh token.
        this.source = null
        this.scheduleReopen()
      }
    }
  }

  private scheduleReopen(): void {
    clearTimeout(this.reopenTimer)
    this.reopenTimer = setTimeout(() => void this.open(), this.retryMs)
    this.retryMs = Math.min(this.retryMs * 2, 30_000)
  }

  private emit(topic: string, message: LiveMessage): void {
    for (const handler of this.handlers.get(topic) ?? []) handler(message)
  }
}
