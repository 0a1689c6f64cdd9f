// The grid officer's phone app (Vant). It starts from the cached user when the network is down, so queued actions
// and cached tasks stay usable offline; a service worker (/officer/sw.js) keeps the app itself for offline starts.
import Vant, { Locale } from 'vant'
import enUS from 'vant/es/locale/lang/en-US'
import zhCN from 'vant/es/locale/lang/zh-CN'
import 'vant/lib/index.css'
import { createApp } from 'vue'
import { requireSession } from '@/auth/session'
import { i18n, onLocaleChange } from '@/i18n'
import '@/shared/base.css'
import App from './App.vue'
import { pruneCache } from './data/cache'
import { router } from './router'
import { unlockAudioOnFirstTouch } from './services/alerts'
import { startOutbox } from './services/outbox'
import { startTaskFeed } from './services/tasks'
import './theme.css'

function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return
  navigator.serviceWorker.register('/officer/sw.js', { scope: '/officer/' }).catch(() => undefined)
}

async function start(): Promise<void> {
  registerServiceWorker()
  const user = await requireSession(['officer'], true)
  if (!user) return
  onLocaleChange((locale) => (locale === 'en' ? Locale.use('en-US', enUS) : Locale.use('zh-CN', zhCN)))
  unlockAudioOnFirstTouch()
  startTaskFeed()
  await startOutbox(user.username).catch(() => undefined) // no IndexedDB (private mode): actions still fail loudly
  createApp(App).use(i18n).use(Vant).use(router).mount('#app')
  void pruneCache()
}

void start()
