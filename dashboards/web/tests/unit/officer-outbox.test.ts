// The officer's outbox over a real IndexedDB implementation (fake-indexeddb) and a scripted hub: order per task,
// idempotency keys kept across automatic retries and renewed for a retry after a refusal, backoff, photos named by the
// transition that follows them, and nothing lost across a restart of the app.
import 'fake-indexeddb/auto'
import { beforeEach, describe, expect, it } from 'vitest'
import { openOfficerDb, type OfficerDb } from '@/apps/officer/data/db'
import {
  backoffMs,
  IdbOutboxStore,
  isTransient,
  Outbox,
  type NewPhoto,
  type OutboxItem,
  type OutboxTransport,
  type PhotoItem,
  type SendResult,
  type TransitionItem,
} from '@/apps/officer/data/outbox'

interface Call {
  kind: 'photo' | 'transition'
  orderId: number
  key: string
  to?: string
  photoIds?: string[]
}

/** A hub that answers from a script (default: accept), and remembers the keys it acted on, like the real one. */
class ScriptedHub implements OutboxTransport {
  calls: Call[] = []
  acted = new Map<string, SendResult>()
  script: Array<SendResult | 'throw'> = []
  private photos = 0

  answer(call: Call, ok: () => SendResult): SendResult {
    this.calls.push(call)
    const stored = this.acted.get(call.key)
    if (stored) return stored // a retry with the same key: the first answer, no second action
    const next = this.script.shift() ?? ok()
    if (next === 'throw') throw new TypeError('Failed to fetch')
    if (next.ok || (next.status !== null && !isTransient(next.status))) this.acted.set(call.key, next)
    return next
  }

  async sendPhoto(item: PhotoItem): Promise<SendResult> {
    return this.answer({ kind: 'photo', orderId: item.orderId, key: item.key }, () => ({ ok: true, photoId: `photo-${++this.photos}` }))
  }

  async sendTransition(item: TransitionItem, photoIds: string[]): Promise<SendResult> {
    return this.answer({ kind: 'transition', orderId: item.orderId, key: item.key, to: item.to, photoIds }, () => ({
      ok: true,
      body: { id: item.orderId, status: item.to },
    }))
  }

  /** Actions the hub actually took (each key once). */
  actions(): Call[] {
    const seen = new Set<string>()
    return this.calls.filter((call) => this.acted.get(call.key)?.ok && !seen.has(call.key) && seen.add(call.key))
  }
}

let db: OfficerDb
let hub: ScriptedHub
let clock: number
let keys: number
let timers: Array<{ at: number; fn: () => void }>
let sent: OutboxItem[]

function outbox(user = 'officer1'): Outbox {
  return new Outbox(new IdbOutboxStore(db), hub, {
    user,
    now: () => clock,
    newKey: () => `key-${++keys}`,
    random: () => 0.5,
    schedule: (fn, ms) => {
      const timer = { at: clock + ms, fn }
      timers.push(timer)
      return () => (timers = timers.filter((t) => t !== timer))
    },
    onSent: (item) => sent.push(item),
  })
}

const photo = (name: string): NewPhoto => ({
  data: new TextEncoder().encode(`jpeg ${name}`).buffer as ArrayBuffer,
  type: 'image/jpeg',
  name,
  takenAt: '2026-12-03T09:41:07+08:00',
  lon: 118.7969,
  lat: 32.0603,
  note: null,
})

beforeEach(async () => {
  db = await openOfficerDb(`outbox-test-${Math.random()}`)
  hub = new ScriptedHub()
  clock = 1_000_000
  keys = 0
  timers = []
  sent = []
})

describe('officer outbox', () => {
  it('sends the actions of one task in the order they were taken, each with its own key', async () => {
    const box = outbox()
    await box.enqueueTransition(7, 'accepted', null)
    await box.enqueueTransition(7, 'on_site', null)
    await box.drain()
    expect(hub.calls.map((c) => [c.to, c.key])).toEqual([
      ['accepted', 'key-1'],
      ['on_site', 'key-2'],
    ])
    expect(await box.items()).toEqual([])
    expect(sent.map((item) => item.kind === 'transition' && item.to)).toEqual(['accepted', 'on_site'])
  })

  it('keeps everything while offline and sends it once, with the same key, when the network returns', async () => {
    const box = outbox()
    hub.script = ['throw']
    await box.enqueueTransition(7, 'on_site', 'at the gate')
    await box.drain()
    let [item] = await box.items()
    expect(item.state).toBe('pending')
    expect(item.error).toMatchObject({ status: null, transient: true })
    expect(box.offlineUntil).toBe(clock + backoffMs(1, 0.5))
    expect(timers).toHaveLength(1) // woken up after the backoff

    // The first retry reaches the hub, but its answer is lost on the way back: the hub acted once.
    hub.script = [{ ok: true, body: {} }]
    const first = hub.answer.bind(hub)
    hub.answer = (call, ok) => {
      first(call, ok)
      throw new TypeError('connection reset')
    }
    await box.resume()
    hub.answer = first
    ;[item] = await box.items()
    expect(item.key).toBe('key-1')

    await box.resume() // `online` event
    expect(await box.items()).toEqual([])
    expect(hub.calls.map((c) => c.key)).toEqual(['key-1', 'key-1', 'key-1'])
    expect(hub.actions()).toHaveLength(1)
  })

  it('backs off exponentially on a busy hub and tries again when due', async () => {
    const box = outbox()
    hub.script = [
      { ok: false, status: 503, detail: 'busy' },
      { ok: false, status: 502, detail: 'gateway' },
    ]
    await box.enqueueTransition(7, 'accepted', null)
    await box.drain()
    let [item] = await box.items()
    expect(item.nextAt - clock).toBe(backoffMs(1, 0.5))
    await box.drain() // not due yet: nothing sent
    expect(hub.calls).toHaveLength(1)

    clock = item.nextAt
    await box.drain()
    ;[item] = await box.items()
    expect(item.attempts).toBe(2)
    expect(item.nextAt - clock).toBe(backoffMs(2, 0.5))
    expect(backoffMs(2, 0.5)).toBe(2 * backoffMs(1, 0.5))
    expect(backoffMs(30, 0.99)).toBeLessThanOrEqual(6 * 60_000)

    clock = item.nextAt
    await box.drain()
    expect(await box.items()).toEqual([])
    expect(hub.calls.map((c) => c.key)).toEqual(['key-1', 'key-1', 'key-1'])
  })

  it('marks a refusal as failed with the hub reason, blocks only its own task, and retries it with a new key', async () => {
    const box = outbox()
    hub.script = [{ ok: false, status: 409, detail: 'work order 7 is resolved; on_site is not possible from there' }]
    await box.enqueueTransition(7, 'on_site', null)
    await box.enqueueTransition(7, 'resolved', null)
    await box.enqueueTransition(8, 'accepted', null)
    await box.drain()

    const items = await box.items()
    expect(items.map((i) => [i.orderId, i.state])).toEqual([
      [7, 'failed'],
      [7, 'pending'],
    ])
    expect(items[0].error).toEqual({
      status: 409,
      detail: 'work order 7 is resolved; on_site is not possible from there',
      transient: false,
    })
    expect(hub.calls.map((c) => [c.orderId, c.to])).toEqual([
      [7, 'on_site'],
      [8, 'accepted'],
    ])

    await box.drain() // a failed head stays put until the officer decides
    expect(hub.calls).toHaveLength(2)

    await box.retry(items[0].seq as number)
    expect(hub.calls.slice(2).map((c) => [c.to, c.key])).toEqual([
      ['on_site', 'key-4'], // the hub stored its refusal under key-1: a new key, or the retry gets the old refusal
      ['resolved', 'key-2'],
    ])
    expect(await box.items()).toEqual([])
  })

  it('discards an item on request and goes on with the next of that task', async () => {
    const box = outbox()
    hub.script = [{ ok: false, status: 403, detail: 'only the assignee may accept' }]
    const refused = await box.enqueueTransition(7, 'accepted', null)
    await box.enqueueTransition(7, 'suspended', 'waiting for the owner')
    await box.drain()
    await box.discard(refused.seq as number)
    expect(hub.calls.map((c) => c.to)).toEqual(['accepted', 'suspended'])
    expect(await box.items()).toEqual([])
  })

  it('uploads the photos first and names them by the ids the hub gave in the transition', async () => {
    const box = outbox()
    const a = await box.enqueuePhoto(7, photo('a.jpg'))
    const b = await box.enqueuePhoto(7, photo('b.jpg'))
    await box.enqueueTransition(7, 'resolved', 'car towed', [a.localId, b.localId])
    hub.script = [{ ok: true, photoId: 'p-1' }, 'throw']
    await box.drain() // a.jpg is accepted, then the network drops
    expect((await box.items()).map((i) => i.kind)).toEqual(['photo', 'transition'])

    hub.script = [{ ok: true, photoId: 'p-2' }]
    await box.resume()
    const transition = hub.calls.at(-1)
    expect(transition).toMatchObject({ kind: 'transition', to: 'resolved', photoIds: ['p-1', 'p-2'] })
    expect(hub.calls.filter((c) => c.kind === 'photo').map((c) => c.key)).toEqual([a.key, b.key, b.key])
  })

  it('sends a transition without a photo the officer discarded', async () => {
    const box = outbox()
    hub.script = [{ ok: false, status: 415, detail: 'not a JPEG, PNG or WebP picture' }]
    const bad = await box.enqueuePhoto(7, photo('bad.heic'))
    await box.enqueueTransition(7, 'resolved', null, [bad.localId])
    await box.drain()
    await box.discard(bad.seq as number)
    expect(hub.calls.at(-1)).toMatchObject({ kind: 'transition', photoIds: [] })
  })

  it('survives a restart of the app: the queue, its order and its keys are in IndexedDB', async () => {
    hub.script = ['throw']
    const before = outbox()
    await before.enqueueTransition(7, 'accepted', null)
    await before.enqueuePhoto(7, photo('later.jpg'))
    await before.drain()
    before.stop()

    const after = outbox() // a new page load
    expect((await after.items()).map((i) => [i.kind, i.key])).toEqual([
      ['transition', 'key-1'],
      ['photo', 'key-2'],
    ])
    const [, stored] = await after.items()
    expect(new TextDecoder().decode((stored as PhotoItem).data)).toBe('jpeg later.jpg')
    await after.drain()
    expect(hub.calls.map((c) => c.key)).toEqual(['key-1', 'key-1', 'key-2'])
  })

  it('sends only the logged-in officer’s items', async () => {
    await outbox('officer2').enqueueTransition(9, 'accepted', null)
    const mine = outbox('officer1')
    await mine.enqueueTransition(7, 'accepted', null)
    await mine.drain()
    expect(hub.calls.map((c) => c.orderId)).toEqual([7])
    expect(await outbox('officer2').items()).toHaveLength(1)
  })

  it('joins a drain already running instead of sending twice', async () => {
    const box = outbox()
    await box.enqueueTransition(7, 'accepted', null)
    await Promise.all([box.drain(), box.drain(), box.resume()])
    expect(hub.calls).toHaveLength(1)
  })

  it('tells transient answers from final ones', () => {
    expect([null, 401, 408, 429, 500, 503].map(isTransient)).toEqual([true, true, true, true, true, true])
    expect([400, 403, 404, 409, 413, 415, 422].map(isTransient)).toEqual([false, false, false, false, false, false, false])
  })
})
