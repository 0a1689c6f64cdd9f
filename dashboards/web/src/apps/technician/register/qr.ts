// Provisioning QR codes (format: cityops/contract/provisioning_qr.py) and device labels, read back. Pure.
//
//   cityops:1:<base64url of {"d": device_id, "h": hub_url, "m": MQTT URL without password, "s": secret}>
//
// A box's label may carry that code or just the device id; both fill in the registration form's id.

export const QR_PREFIX = 'cityops:1:'
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]{3,64}$/

export interface ProvisioningCode {
  d: string
  h: string
  m: string
  s: string
}

function base64UrlDecode(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4)
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

/** The fields of a provisioning code, or null when `text` is not one (or is damaged). Unknown keys are ignored. */
export function parseProvisioningCode(text: string): ProvisioningCode | null {
  const trimmed = text.trim()
  if (!trimmed.startsWith(QR_PREFIX)) return null
  try {
    const data = JSON.parse(base64UrlDecode(trimmed.slice(QR_PREFIX.length))) as Record<string, unknown>
    const fields = ['d', 'h', 'm', 's'] as const
    if (!fields.every((k) => typeof data[k] === 'string')) return null
    return { d: String(data.d), h: String(data.h), m: String(data.m), s: String(data.s) }
  } catch {
    return null
  }
}

/** The device id a scanned label carries: a provisioning code's `d`, a plain id, or the last part of a device URL. */
export function deviceIdFromLabel(text: string): string | null {
  const trimmed = text.trim()
  const code = parseProvisioningCode(trimmed)
  if (code) return DEVICE_ID_PATTERN.test(code.d) ? code.d : null
  if (DEVICE_ID_PATTERN.test(trimmed)) return trimmed
  const match = /\/device\/([A-Za-z0-9_.-]{3,64})\/?$/.exec(trimmed)
  return match ? match[1] : null
}

/** A file name for the box's configuration download. */
export function configFileName(deviceId: string): string {
  return `cityops-edge-${deviceId.replace(/[^A-Za-z0-9_.-]/g, '_')}.yaml`
}
