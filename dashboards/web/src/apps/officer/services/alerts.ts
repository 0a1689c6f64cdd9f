// A new task: a short sound (WebAudio oscillator, no audio file), a vibration where the browser allows it, and a
// system notification when permitted and the page is hidden. Browsers let a page play sound and vibrate only after
// the user has touched it, so the first touch unlocks the audio.
let audio: AudioContext | null = null

export function unlockAudioOnFirstTouch(): void {
  const unlock = (): void => {
    try {
      audio ??= new AudioContext()
      void audio.resume()
    } catch {
      audio = null // no WebAudio: the alert is vibration and notification only
    }
  }
  for (const event of ['pointerdown', 'keydown'] as const) window.addEventListener(event, unlock, { once: true, capture: true })
}

/** Two short rising tones, about 0.4 s. */
export function chime(): void {
  if (!audio || audio.state !== 'running') return
  const start = audio.currentTime + 0.01
  for (const [offset, frequency] of [
    [0, 880],
    [0.2, 1175],
  ] as const) {
    const oscillator = audio.createOscillator()
    const gain = audio.createGain()
    oscillator.type = 'sine'
    oscillator.frequency.value = frequency
    gain.gain.setValueAtTime(0.0001, start + offset)
    gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18)
    oscillator.connect(gain).connect(audio.destination)
    oscillator.start(start + offset)
    oscillator.stop(start + offset + 0.2)
  }
}

export function vibrate(): void {
  try {
    navigator.vibrate?.([180, 80, 180])
  } catch {
    // not allowed before a user gesture, or no vibrator
  }
}

export function notificationsSupported(): boolean {
  return typeof Notification !== 'undefined'
}

export async function askNotificationPermission(): Promise<NotificationPermission> {
  if (!notificationsSupported()) return 'denied'
  return Notification.requestPermission()
}

/** A system notification, only when the officer is not looking at the app (the list shows the task otherwise). */
export async function notify(title: string, body: string, url: string, tag: string): Promise<void> {
  if (!notificationsSupported() || Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return
  const options: NotificationOptions = { body, tag, icon: '/officer/icons/icon-192.png', data: { url } }
  // Android shows notifications only through the service worker; elsewhere the page may show them itself.
  const registration = await navigator.serviceWorker?.getRegistration('/officer/').catch(() => undefined)
  if (registration) await registration.showNotification(title, options)
  else new Notification(title, options)
}
