// The map's markers as Leaflet divIcons (DOM elements, so they can carry test ids, labels and keyboard focus).
// Incidents: severity as colour, shape and a short label, a badge when the work order is overdue. Cameras (squares)
// and sensors (circles): health as colour and a glyph. Texts come in from the caller (i18n).
import L from 'leaflet'
import type { Health } from '../model/fleet'

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

export function incidentIcon(severity: string, short: string, overdue: boolean): L.DivIcon {
  return L.divIcon({
    className: `incident-marker sev-${severity}${overdue ? ' overdue' : ''}`,
    html:
      `<span class="sev-shape"></span><span class="sev-label">${escape(short)}</span>` +
      (overdue ? '<span class="late-badge">!</span>' : ''),
    iconSize: [28, 28],
    iconAnchor: [14, 14],
  })
}

const GLYPH: Record<Health, string> = { ok: '✓', warning: '!', down: '×', unknown: '?' }

export function deviceIcon(kind: 'camera' | 'sensor', health: Health): L.DivIcon {
  return L.divIcon({
    className: `device-marker ${kind} health-${health}`,
    html: `<span aria-hidden="true">${GLYPH[health]}</span>`,
    iconSize: [16, 16],
    iconAnchor: [8, 8],
  })
}

/** Test id, label and data attributes on a marker's element (again after each setIcon, which may replace it).
 * Markers without a keyboard role (devices: their list is the keyboard's way) are labelled pictures. */
export function label(marker: L.Marker, testid: string, text: string, data: Record<string, string> = {}): void {
  const el = marker.getElement()
  if (!el) return
  if (!el.getAttribute('role')) el.setAttribute('role', 'img')
  el.dataset.testid = testid
  el.setAttribute('aria-label', text)
  for (const [k, v] of Object.entries(data)) el.dataset[k] = v
}
