import { startElementApp } from '@/shared/element'
import App from './App.vue'
import { router } from './router'

void startElementApp(App, ['admin'], router)
