// Start-up of the apps built on Element Plus (command center, technician, administrator): session first (a page
// opened without one goes to the login page), then i18n, the component library and the router.
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import { createApp, type Component } from 'vue'
import type { Router } from 'vue-router'
import { i18n } from '@/i18n'
import { requireSession, type Role } from '@/auth/session'
import './base.css'

export async function startElementApp(root: Component, roles: Role[], router?: Router): Promise<void> {
  const user = await requireSession(roles)
  if (!user) return
  const app = createApp(root)
  app.use(i18n)
  app.use(ElementPlus)
  if (router) app.use(router)
  app.mount('#app')
}

export { elementLocale } from './element-locale'
