// The app's one outbox: created for the logged-in officer, drained at start, on every `online` event and when the
// page becomes visible again, and shown by the outbox banner through `outboxView`.
import { reactive } from 'vue'
import { officerDb } from '../data/db'
import { IdbOutboxStore, Outbox, type NewPhoto, type OutboxError, type OutboxItem, type SendResult } from '../data/outbox'
import { httpTransport } from '../data/transport'

/** An outbox item as the banner shows it (no picture bytes in reactive state). */
export interface OutboxEntry {
  seq: number
  orderId: number
  kind: 'photo' | 'transition'
  to: string | null
  photos: number
  state: 'pending' | 'failed'
  error: OutboxError | null
  attempts: number
  nextAt: number
  createdAt: number
}

export const outboxView = reactive({
  ready: false,
  items: [] as OutboxEntry[],
  sending: null as number | null,
  offlineUntil: 0,
})

type SentHandler = (item: OutboxItem, result: Extract<SendResult, { ok: true }>) => void
const sentHandlers = new Set<SentHandler>()
let box: Outbox | null = null

function entry(item: OutboxItem): OutboxEntry {
  return {
    seq: item.seq ?? 0,
    orderId: item.orderId,
    kind: item.kind,
    to: item.kind === 'transition' ? item.to : null,
    photos: item.kind === 'transition' ? item.photos.length : 1,
    state: item.state,
    error: item.error,
    attempts: item.attempts,
    nextAt: item.nextAt,
    createdAt: item.createdAt,
  }
}

async function refreshView(): Promise<void> {
  if (!box) return
  outboxView.items = (await box.items()).map(entry)
  outboxView.sending = box.sending
  outboxView.offlineUntil = box.offlineUntil
}

export async function startOutbox(user: string): Promise<void> {
  if (box) return
  const store = new IdbOutboxStore(await officerDb())
  box = new Outbox(store, httpTransport, {
    user,
    onChange: () => void refreshView(),
    onSent: (item, result) => sentHandlers.forEach((fn) => fn(item, result)),
  })
  outboxView.ready = true
  window.addEventListener('online', () => void box?.resume())
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void box?.resume()
  })
  await refreshView()
  void box.drain()
}

function outbox(): Outbox {
  if (!box) throw new Error('the outbox is not started')
  return box
}

/** Queue a transition (after its photos) and try to send at once. */
export async function queueTransition(orderId: number, to: string, note: string | null, photos: NewPhoto[] = []): Promise<void> {
  const localIds: string[] = []
  for (const photo of photos) localIds.push((await outbox().enqueuePhoto(orderId, photo)).localId)
  await outbox().enqueueTransition(orderId, to, note, localIds)
  void outbox().drain()
}

/** Queue photos of an order with no transition (added later). */
export async function queuePhotos(orderId: number, photos: NewPhoto[]): Promise<void> {
  for (const photo of photos) await outbox().enqueuePhoto(orderId, photo)
  void outbox().drain()
}

export const retryItem = (seq: number): Promise<void> => outbox().retry(seq)
export const discardItem = (seq: number): Promise<void> => outbox().discard(seq)
export const retryAll = (): Promise<void> => outbox().resume()

/** Called with each item the hub accepted (a transition's answer is the order's new detail). */
export function onSent(handler: SentHandler): () => void {
  sentHandlers.add(handler)
  return () => sentHandlers.delete(handler)
}
