// One route per screen; each screen is a folder under ./screens, loaded when first opened (the map screens bring
// Leaflet; the users list, the first screen, does not).
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import UsersScreen from './screens/Users/UsersScreen.vue'

export const SCREENS = ['users', 'areas', 'rosters', 'cameras', 'rules', 'changes'] as const
export type ScreenName = (typeof SCREENS)[number]

export const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/users' },
  { path: '/users', name: 'users', component: UsersScreen },
  { path: '/areas', name: 'areas', component: () => import('./screens/Areas/AreasScreen.vue') },
  { path: '/rosters', name: 'rosters', component: () => import('./screens/Rosters/RostersScreen.vue') },
  { path: '/cameras', name: 'cameras', component: () => import('./screens/Cameras/CamerasScreen.vue') },
  { path: '/rules', name: 'rules', component: () => import('./screens/Rules/RulesScreen.vue') },
  { path: '/changes', name: 'changes', component: () => import('./screens/Changes/ChangesScreen.vue') },
  { path: '/:rest(.*)*', redirect: '/users' },
]

export const router = createRouter({ history: createWebHistory('/admin/'), routes })
