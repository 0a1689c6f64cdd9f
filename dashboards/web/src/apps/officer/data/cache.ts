// What the officer last saw, kept in IndexedDB per user, so the app opens with no network: the task list, each task's
// detail, and the pictures (evidence and photos) as bytes.
import { rawFetch } from '@/api/client'
import { officerDb, type CacheEntry } from './db'

export async function readCache<T>(key: string): Promise<CacheEntry<T> | undefined> {
  try {
    return (await (await officerDb()).get('cache', key)) as CacheEntry<T> | undefined
  } catch {
    return undefined // private mode or storage full: the app works, only without its offline copy
  }
}

export async function writeCache<T>(key: string, value: T, at = Date.now()): Promise<void> {
  try {
    await (await officerDb()).put('cache', { value: JSON.parse(JSON.stringify(value)) as T, at }, key)
  } catch {
    // see readCache
  }
}

/**
 * A blob: URL for a picture of the hub (fetched with the session's token), from the cache when the network fails.
 * The caller revokes it.
 */
export async function pictureUrl(path: string): Promise<string | null> {
  const db = await officerDb().catch(() => null)
  try {
    const response = await rawFetch(path)
    if (response.ok) {
      const blob = await response.blob()
      void db?.put('blobs', { data: await blob.arrayBuffer(), type: blob.type, at: Date.now() }, path).catch(() => undefined)
      return URL.createObjectURL(blob)
    }
    if (response.status < 500) return null
  } catch {
    // offline: the cached copy below
  }
  const cached = await db?.get('blobs', path).catch(() => undefined)
  return cached ? URL.createObjectURL(new Blob([cached.data], { type: cached.type })) : null
}

const DAY_MS = 86_400_000

/** Forget old copies: pictures after 14 days, other cached answers after 30, photo ids after the hub's 7-day keys. */
export async function pruneCache(now = Date.now()): Promise<void> {
  try {
    const db = await officerDb()
    const tx = db.transaction(['blobs', 'cache', 'photoIds'], 'readwrite')
    const limits = { blobs: 14, cache: 30, photoIds: 8 } as const
    for (const name of ['blobs', 'cache', 'photoIds'] as const) {
      for (let cursor = await tx.objectStore(name).openCursor(); cursor; cursor = await cursor.continue()) {
        if (now - cursor.value.at > limits[name] * DAY_MS) await cursor.delete()
      }
    }
    await tx.done
  } catch {
    // nothing to prune without storage
  }
}
