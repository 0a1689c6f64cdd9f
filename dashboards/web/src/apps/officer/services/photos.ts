// Photos from the phone's camera, prepared on the phone: compressed (browser-image-compression, in a web worker whose
// library file the hub serves, EXIF kept) and their time and place read from EXIF (exifr), so the hub gets a small
// file with the officer's own time and position of the shot.
import imageCompression from 'browser-image-compression'
import exifr from 'exifr'
import type { NewPhoto } from '../data/outbox'

// Copied into the build by officer/pwa.config.ts: the library's worker loads it from the hub, never from its CDN.
// Absolute: the worker runs from a blob: URL, against which a path cannot be resolved.
const LIB_PATH = '/officer/vendor/browser-image-compression.js'
const MAX_BYTES = 10 * 1024 * 1024 // the hub's limit

export interface PreparedPhoto extends NewPhoto {
  previewUrl: string
  originalBytes: number
}

/** EXIF "2026:12:03 09:41:07" (+ optional "+08:00") as RFC 3339; without an offset the phone's zone is meant. */
export function exifTime(text: unknown, offset: unknown): string | null {
  const match = typeof text === 'string' ? /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(text) : null
  if (!match) return null
  const [y, mo, d, h, mi, s] = match.slice(1).map(Number)
  if (typeof offset === 'string' && /^[+-]\d{2}:\d{2}$/.test(offset)) {
    return `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}${offset}`
  }
  const local = new Date(y, mo - 1, d, h, mi, s)
  return Number.isNaN(local.getTime()) ? null : local.toISOString()
}

export async function readExifPlace(file: Blob): Promise<Pick<NewPhoto, 'takenAt' | 'lon' | 'lat'>> {
  const [tags, gps] = await Promise.all([
    exifr.parse(file, { pick: ['DateTimeOriginal', 'CreateDate', 'OffsetTimeOriginal'], reviveValues: false }).catch(() => null),
    exifr.gps(file).catch(() => null),
  ])
  const takenAt = exifTime(tags?.DateTimeOriginal ?? tags?.CreateDate, tags?.OffsetTimeOriginal)
  const ok = gps && Number.isFinite(gps.longitude) && Number.isFinite(gps.latitude)
  return { takenAt, lon: ok ? gps.longitude : null, lat: ok ? gps.latitude : null }
}

async function compress(file: File): Promise<Blob> {
  try {
    return await imageCompression(file, {
      maxSizeMB: 1,
      maxWidthOrHeight: 2560,
      initialQuality: 0.85,
      fileType: 'image/jpeg',
      preserveExif: true,
      useWebWorker: true,
      libURL: new URL(LIB_PATH, window.location.origin).href,
    })
  } catch {
    return file // an odd format the canvas cannot read: the hub still takes it if small enough
  }
}

export async function preparePhoto(file: File): Promise<PreparedPhoto> {
  const [place, small] = await Promise.all([readExifPlace(file), compress(file)])
  if (small.size > MAX_BYTES) throw new Error(`${file.name}: ${Math.round(small.size / 1e6)} MB`)
  return {
    ...place,
    data: await small.arrayBuffer(),
    type: small.type || 'image/jpeg',
    name: file.name,
    note: null,
    previewUrl: URL.createObjectURL(small),
    originalBytes: file.size,
  }
}
