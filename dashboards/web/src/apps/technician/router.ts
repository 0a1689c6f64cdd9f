// One route per screen; each screen is a folder under ./screens.
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'

export const routes: RouteRecordRaw[] = []

export const router = createRouter({ history: createWebHistory('/technician/'), routes })
