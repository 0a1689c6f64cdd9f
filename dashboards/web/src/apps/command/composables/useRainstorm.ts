// The hub-wide rainstorm mode (GET/POST /api/v1/modes/rainstorm), one state for every screen of the app, kept
// current by `mode` messages (another commander may switch it).
import { ref, watch } from 'vue'
import { api, unwrap, type Schemas } from '@/api/client'
import { live } from '../live'
import { errorText } from './live'

type Mode = Schemas['ModePublic']
const mode = ref<Mode | null>(null)
const error = ref<string | null>(null)
let started = false

async function load(): Promise<void> {
  try {
    mode.value = unwrap(await api.GET('/api/v1/modes/{name}', { params: { path: { name: 'rainstorm' } } }))
    error.value = null
  } catch (exc) {
    error.value = errorText(exc)
  }
}

async function switchTo(enabled: boolean, note: string): Promise<void> {
  mode.value = unwrap(
    await api.POST('/api/v1/modes/{name}', {
      params: { path: { name: 'rainstorm' } },
      body: { enabled, note: note.trim() || null },
    }),
  )
}

export function useRainstorm() {
  if (!started) {
    started = true
    live.on('mode', (m) => {
      if (m.data.name === 'rainstorm') mode.value = m.data as unknown as Mode
    })
    live.on('resync', () => void load())
    // Loaded before the channel was up: load again once it is, so a switch in between is not missed.
    const loadedLive = live.state.value === 'live'
    if (!loadedLive) {
      const stop = watch(live.state, (state) => {
        if (state !== 'live') return
        stop()
        void load()
      })
    }
    void load()
  }
  return { mode, error, switchTo, reload: load }
}
