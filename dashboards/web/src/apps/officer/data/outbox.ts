// The outbox: every action and photo of the officer goes here first (IndexedDB), and a sender drains it when the
// network allows. So an action taken in a basement or a lift is not lost, and the officer sees what is still pending.
//
// - Each item carries an idempotency key, sent as `Idempotency-Key`; automatic retries reuse it, so a request whose
//   answer was lost acts once on the hub and the retry gets the first answer again.
// - Items of one work order are sent in the order they were taken (photos before the transition that names them);
//   orders do not wait for each other.
// - A network failure or a busy hub (5xx, 429, 408) is transient: the item stays pending and is retried with
//   exponential backoff; the next `online` event (`resume`) retries at once. Any other refusal (409: someone else
//   moved the order, 403, 404, 422) is final: the item is marked failed with the hub's reason and blocks only its
//   own order until the officer retries or discards it. The hub stores refusals under their key, so a retry the
//   officer asks for goes out with a new key.
// - A queued transition names its photos by local id; the hub's photo ids are recorded as the photos are accepted.
//
// I/O comes in through two interfaces (`OutboxStore`, `OutboxTransport`), so the logic is tested with
// fake-indexeddb and a scripted transport.
import type { OfficerDb } from './db'

export interface OutboxError {
  status: number | null // null: no answer at all (offline, connection dropped)
  detail: string
  transient: boolean
}

interface ItemBase {
  seq?: number // IndexedDB key, in the order the items were taken
  user: string // only the officer who took it may send it
  orderId: number
  key: string // Idempotency-Key
  createdAt: number
  attempts: number
  nextAt: number // not sent again before this (ms since the epoch)
  state: 'pending' | 'failed'
  error: OutboxError | null
}

export interface PhotoItem extends ItemBase {
  kind: 'photo'
  localId: string
  data: ArrayBuffer
  type: string
  name: string
  takenAt: string | null
  lon: number | null
  lat: number | null
  note: string | null
}

export interface TransitionItem extends ItemBase {
  kind: 'transition'
  to: string
  note: string | null
  photos: string[] // local ids of photos queued before it
}

export type OutboxItem = PhotoItem | TransitionItem

export type NewPhoto = Pick<PhotoItem, 'data' | 'type' | 'name' | 'takenAt' | 'lon' | 'lat' | 'note'> & { localId?: string }

export type SendResult = { ok: true; photoId?: string; body?: unknown } | { ok: false; status: number | null; detail: string }

export interface OutboxTransport {
  sendPhoto(item: PhotoItem): Promise<SendResult>
  sendTransition(item: TransitionItem, photoIds: string[]): Promise<SendResult>
}

export interface OutboxStore {
  all(user: string): Promise<OutboxItem[]>
  get(seq: number): Promise<OutboxItem | undefined>
  add(item: OutboxItem): Promise<number>
  put(item: OutboxItem): Promise<void>
  delete(seq: number): Promise<void>
  photoId(localId: string): Promise<string | undefined>
  setPhotoId(localId: string, photoId: string, orderId: number, at: number): Promise<void>
}

export class IdbOutboxStore implements OutboxStore {
  constructor(private readonly db: OfficerDb) {}

  async all(user: string): Promise<OutboxItem[]> {
    const items = await this.db.getAllFromIndex('outbox', 'byUser', user)
    return items.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
  }

  get(seq: number): Promise<OutboxItem | undefined> {
    return this.db.get('outbox', seq)
  }

  add(item: OutboxItem): Promise<number> {
    return this.db.add('outbox', item)
  }

  async put(item: OutboxItem): Promise<void> {
    await this.db.put('outbox', item)
  }

  delete(seq: number): Promise<void> {
    return this.db.delete('outbox', seq)
  }

  async photoId(localId: string): Promise<string | undefined> {
    return (await this.db.get('photoIds', localId))?.photoId
  }

  async setPhotoId(localId: string, photoId: string, orderId: number, at: number): Promise<void> {
    await this.db.put('photoIds', { localId, photoId, orderId, at })
  }
}

/** No answer, or an answer that says "later": the same request may succeed if sent again. */
export function isTransient(status: number | null): boolean {
  return status === null || status === 401 || status === 408 || status === 425 || status === 429 || status >= 500
}

const BACKOFF_BASE_MS = 2_000
const BACKOFF_MAX_MS = 5 * 60_000

/** 2 s, 4 s, 8 s ... up to 5 min, spread by ±20 % (`random` in [0, 1)) so phones do not retry in step. */
export function backoffMs(attempts: number, random: number): number {
  const plain = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1))
  return Math.round(plain * (0.8 + 0.4 * random))
}

/** Items grouped by work order, each group in the order taken; groups by their oldest item. */
export function queuesByOrder(items: OutboxItem[]): OutboxItem[][] {
  const groups = new Map<number, OutboxItem[]>()
  for (const item of [...items].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) {
    const group = groups.get(item.orderId) ?? []
    group.push(item)
    groups.set(item.orderId, group)
  }
  return [...groups.values()]
}

export interface OutboxOptions {
  user: string
  now?: () => number
  newKey?: () => string
  random?: () => number
  /** Run `fn` after `ms`; returns a cancel function (the backoff timer). */
  schedule?: (fn: () => void, ms: number) => () => void
  onChange?: () => void
  onSent?: (item: OutboxItem, result: Extract<SendResult, { ok: true }>) => void
}

export class Outbox {
  /** The item being sent now. */
  sending: number | null = null
  /** No answer at all: nothing is tried before this time (unless `resume`). */
  offlineUntil = 0
  private offlineFailures = 0
  private running: Promise<void> | null = null
  private again = false
  private cancelTimer: (() => void) | null = null
  private readonly now: () => number
  private readonly newKey: () => string
  private readonly random: () => number
  private readonly schedule: (fn: () => void, ms: number) => () => void

  constructor(
    private readonly store: OutboxStore,
    private readonly transport: OutboxTransport,
    private readonly options: OutboxOptions,
  ) {
    this.now = options.now ?? Date.now
    this.newKey = options.newKey ?? (() => crypto.randomUUID())
    this.random = options.random ?? Math.random
    this.schedule =
      options.schedule ??
      ((fn, ms) => {
        const timer = setTimeout(fn, ms)
        return () => clearTimeout(timer)
      })
  }

  items(): Promise<OutboxItem[]> {
    return this.store.all(this.options.user)
  }

  async enqueuePhoto(orderId: number, photo: NewPhoto): Promise<PhotoItem> {
    const item: PhotoItem = {
      ...this.base(orderId),
      kind: 'photo',
      localId: photo.localId ?? this.newKey(),
      data: photo.data,
      type: photo.type,
      name: photo.name,
      takenAt: photo.takenAt,
      lon: photo.lon,
      lat: photo.lat,
      note: photo.note,
    }
    return this.added(item)
  }

  async enqueueTransition(orderId: number, to: string, note: string | null, photos: string[] = []): Promise<TransitionItem> {
    return this.added({ ...this.base(orderId), kind: 'transition', to, note, photos })
  }

  /** Send what is due, order by order; resolves when nothing more can be sent now. Calls made meanwhile join it. */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          this.again = false
          await this.pass()
        } while (this.again)
      } finally {
        this.running = null
      }
    })()
    return this.running
  }

  /** The network is back (or the officer asked): try everything pending now. */
  resume(): Promise<void> {
    this.offlineUntil = 0
    return this.drain()
  }

  /** Try one item again now; a failed one goes out with a new key (the hub stored its refusal under the old one). */
  async retry(seq: number): Promise<void> {
    const item = await this.store.get(seq)
    if (!item) return
    if (item.state === 'failed') {
      item.key = this.newKey()
      item.state = 'pending'
      item.attempts = 0
      item.error = null
    }
    item.nextAt = 0
    await this.store.put(item)
    this.changed()
    await this.resume()
  }

  /** Give up on an item (a transition that named a discarded photo goes without it). */
  async discard(seq: number): Promise<void> {
    await this.store.delete(seq)
    this.changed()
    await this.drain()
  }

  stop(): void {
    this.cancelTimer?.()
    this.cancelTimer = null
  }

  private base(orderId: number): Omit<ItemBase, 'seq'> {
    return {
      user: this.options.user,
      orderId,
      key: this.newKey(),
      createdAt: this.now(),
      attempts: 0,
      nextAt: 0,
      state: 'pending',
      error: null,
    }
  }

  private async added<T extends OutboxItem>(item: T): Promise<T> {
    item.seq = await this.store.add(item)
    this.changed()
    return item
  }

  private changed(): void {
    this.options.onChange?.()
  }

  private async pass(): Promise<void> {
    const queues = queuesByOrder(await this.items())
    if (this.now() >= this.offlineUntil) {
      orders: for (const queue of queues) {
        for (const item of queue) {
          if (item.state === 'failed' || item.nextAt > this.now()) break
          const outcome = await this.send(item)
          if (outcome === 'offline') break orders
          if (outcome !== 'sent') break
        }
      }
    }
    await this.scheduleNext()
  }

  private async send(item: OutboxItem): Promise<'sent' | 'later' | 'failed' | 'offline'> {
    this.sending = item.seq ?? null
    this.changed()
    let result: SendResult
    try {
      result =
        item.kind === 'photo'
          ? await this.transport.sendPhoto(item)
          : await this.transport.sendTransition(item, await this.photoIds(item.photos))
    } catch (exc) {
      result = { ok: false, status: null, detail: exc instanceof Error ? exc.message : String(exc) }
    } finally {
      this.sending = null
    }
    if (result.ok) {
      this.offlineFailures = 0
      if (item.kind === 'photo' && result.photoId) {
        await this.store.setPhotoId(item.localId, result.photoId, item.orderId, this.now())
      }
      await this.store.delete(item.seq ?? -1)
      this.options.onSent?.(item, result)
      this.changed()
      return 'sent'
    }
    const current = await this.store.get(item.seq ?? -1)
    if (!current) return 'later' // discarded while it was on its way
    const transient = isTransient(result.status)
    current.attempts += 1
    current.error = { status: result.status, detail: result.detail, transient }
    if (result.status === null) {
      this.offlineFailures += 1
      this.offlineUntil = this.now() + backoffMs(this.offlineFailures, this.random())
    } else if (transient) {
      current.nextAt = this.now() + backoffMs(current.attempts, this.random())
    } else {
      current.state = 'failed'
    }
    await this.store.put(current)
    this.changed()
    return result.status === null ? 'offline' : transient ? 'later' : 'failed'
  }

  private async photoIds(localIds: string[]): Promise<string[]> {
    const ids = await Promise.all(localIds.map((id) => this.store.photoId(id)))
    return ids.filter((id): id is string => id !== undefined)
  }

  /** Wake up when the next item may be tried. */
  private async scheduleNext(): Promise<void> {
    this.cancelTimer?.()
    this.cancelTimer = null
    const heads = queuesByOrder(await this.items())
      .map((queue) => queue[0])
      .filter((item) => item.state === 'pending')
    if (heads.length === 0) return
    const at = Math.max(this.offlineUntil, Math.min(...heads.map((item) => item.nextAt)))
    const delay = at - this.now()
    if (delay <= 0) return // due now: a pass that stopped early (offline) is followed by `resume`
    this.cancelTimer = this.schedule(() => void this.drain(), delay)
  }
}
