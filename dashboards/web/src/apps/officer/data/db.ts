// The officer app's IndexedDB (idb): the outbox of actions and photos not yet accepted by the hub, the photo ids the
// hub gave to sent photos (a queued transition names its photos before they have ids), and a cache of what the
// officer last saw (task list, task details, pictures) so the app opens with no network.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type { OutboxItem } from './outbox'

export interface CacheEntry<T = unknown> {
  value: T
  at: number // ms since the epoch: when the hub answered it
}

export interface BlobEntry {
  data: ArrayBuffer // not a Blob: structured clone of Blobs is not available everywhere IndexedDB is (tests)
  type: string
  at: number
}

export interface PhotoIdEntry {
  localId: string
  photoId: string
  orderId: number
  at: number
}

export interface OfficerSchema extends DBSchema {
  outbox: { key: number; value: OutboxItem; indexes: { byUser: string } }
  photoIds: { key: string; value: PhotoIdEntry }
  cache: { key: string; value: CacheEntry }
  blobs: { key: string; value: BlobEntry }
}

export type OfficerDb = IDBPDatabase<OfficerSchema>

export const DB_NAME = 'cityops-officer'

export function openOfficerDb(name = DB_NAME): Promise<OfficerDb> {
  return openDB<OfficerSchema>(name, 1, {
    upgrade(db) {
      const outbox = db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true })
      outbox.createIndex('byUser', 'user')
      db.createObjectStore('photoIds', { keyPath: 'localId' })
      db.createObjectStore('cache')
      db.createObjectStore('blobs')
    },
  })
}

let shared: Promise<OfficerDb> | null = null

/** The app's one connection. */
export function officerDb(): Promise<OfficerDb> {
  shared ??= openOfficerDb()
  return shared
}
