// One route per screen; each screen is a folder under ./screens, loaded when first opened (the fleet opens fast, the
// zone editor's canvas library comes only with the editor).
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'fleet', component: () => import('./screens/Fleet/FleetScreen.vue') },
  { path: '/register', name: 'register', component: () => import('./screens/Register/RegisterScreen.vue') },
  { path: '/device/:id', name: 'device', component: () => import('./screens/Device/DeviceScreen.vue'), props: true },
  {
    path: '/device/:id/camera',
    name: 'add-camera',
    component: () => import('./screens/AddCamera/AddCameraScreen.vue'),
    props: true,
  },
  {
    path: '/device/:id/zones/:camera',
    name: 'zones',
    component: () => import('./screens/Zones/ZoneEditorScreen.vue'),
    props: true,
  },
  { path: '/:rest(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHistory('/technician/'), routes })
