/// <reference types="@geoman-io/leaflet-geoman-free" />
// Geoman (polygon drawing and vertex editing on Leaflet) is a classic plugin: it extends the global `L` and hooks
// map creation, so it is loaded after Leaflet is global and before any map of this app is created.
import L from 'leaflet'
import '@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css'
import { i18n } from '@/i18n'

let loading: Promise<void> | null = null

export function loadGeoman(): Promise<void> {
  loading ??= (async () => {
    ;(window as unknown as { L: typeof L }).L = L
    await import('@geoman-io/leaflet-geoman-free')
  })()
  return loading
}

/** Geoman's own hints ("click to place the first vertex") in the page's language. */
export function geomanLang(map: L.Map): void {
  map.pm.setLang(i18n.global.locale.value === 'en' ? 'en' : 'zh')
}
