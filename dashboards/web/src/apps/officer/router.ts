// One route per screen; each screen is a folder under ./screens. The task screen (with the map library) loads when
// first opened; the service worker keeps both for offline use.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import TasksScreen from './screens/Tasks/TasksScreen.vue'

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'tasks', component: TasksScreen },
  { path: '/task/:id(\\d+)', name: 'task', component: () => import('./screens/Task/TaskScreen.vue'), props: true },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory('/officer/'), routes })
