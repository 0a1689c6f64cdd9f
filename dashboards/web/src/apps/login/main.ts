// The landing page: log in, then go to the app of your role (or back to the page that sent you here).
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import { createApp } from 'vue'
import { i18n } from '@/i18n'
import '@/shared/base.css'
import LoginApp from './LoginApp.vue'

createApp(LoginApp).use(i18n).use(ElementPlus).mount('#app')
