// The outbox's way to the hub: POST /api/v1/work-orders/{id}/photos (the picture as the raw body, its time and place
// as query parameters) and POST /api/v1/work-orders/{id}/transitions, each with the item's Idempotency-Key.
import { api, rawFetch } from '@/api/client'
import type { OutboxTransport, PhotoItem, SendResult, TransitionItem } from './outbox'

async function problemDetail(response: Response): Promise<string> {
  const body = (await response.json().catch(() => null)) as { detail?: unknown } | null
  return typeof body?.detail === 'string' ? body.detail : `HTTP ${response.status}`
}

export const httpTransport: OutboxTransport = {
  async sendPhoto(item: PhotoItem): Promise<SendResult> {
    const query = new URLSearchParams()
    if (item.takenAt) query.set('taken_at', item.takenAt)
    if (item.lon !== null && item.lat !== null) {
      query.set('lon', String(item.lon))
      query.set('lat', String(item.lat))
    }
    if (item.note) query.set('note', item.note)
    const response = await rawFetch(`/api/v1/work-orders/${item.orderId}/photos?${query}`, {
      method: 'POST',
      headers: { 'Content-Type': item.type, 'Idempotency-Key': item.key },
      body: new Blob([item.data], { type: item.type }),
    })
    if (!response.ok) return { ok: false, status: response.status, detail: await problemDetail(response) }
    const photo = (await response.json()) as { photo_id: string }
    return { ok: true, photoId: photo.photo_id, body: photo }
  },

  async sendTransition(item: TransitionItem, photoIds: string[]): Promise<SendResult> {
    const { data, error, response } = await api.POST('/api/v1/work-orders/{order_id}/transitions', {
      params: { path: { order_id: item.orderId }, header: { 'idempotency-key': item.key } },
      body: { to: item.to, note: item.note, photos: photoIds },
    })
    if (error !== undefined || data === undefined) {
      const detail = (error as { detail?: unknown } | undefined)?.detail
      return { ok: false, status: response.status, detail: typeof detail === 'string' ? detail : `HTTP ${response.status}` }
    }
    return { ok: true, body: data }
  },
}
