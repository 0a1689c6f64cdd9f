// One route per screen; each screen is a folder under ./screens. Lazy, so the wall and the orders board load only
// when opened.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import OverviewScreen from './screens/Overview/OverviewScreen.vue'

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'overview', component: OverviewScreen },
  { path: '/incidents', name: 'incidents', component: () => import('./screens/Incidents/IncidentsScreen.vue') },
  { path: '/incidents/:id(\\d+)', name: 'incident', component: () => import('./screens/Incident/IncidentScreen.vue') },
  { path: '/orders', name: 'orders', component: () => import('./screens/Orders/OrdersScreen.vue') },
  { path: '/wall', name: 'wall', component: () => import('./screens/Wall/WallScreen.vue'), meta: { wall: true } },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory('/command/'), routes })
