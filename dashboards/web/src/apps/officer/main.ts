// The grid officer's phone app (Vant). It starts from the cached user when the network is down, so queued actions
// and cached tasks stay usable offline.
import Vant, { Locale } from 'vant'
import enUS from 'vant/es/locale/lang/en-US'
import zhCN from 'vant/es/locale/lang/zh-CN'
import 'vant/lib/index.css'
import { createApp } from 'vue'
import { requireSession } from '@/auth/session'
import { i18n, onLocaleChange } from '@/i18n'
import '@/shared/base.css'
import App from './App.vue'
import { router } from './router'

async function start(): Promise<void> {
  const user = await requireSession(['officer'], true)
  if (!user) return
  onLocaleChange((locale) => (locale === 'en' ? Locale.use('en-US', enUS) : Locale.use('zh-CN', zhCN)))
  createApp(App).use(i18n).use(Vant).use(router).mount('#app')
}

void start()
