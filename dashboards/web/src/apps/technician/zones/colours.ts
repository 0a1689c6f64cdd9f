// Zone colours on the picture, one per kind; the kind is always written next to the shape as well.
import type { ZoneKind } from './model'

export const KIND_COLOURS: Record<ZoneKind, string> = {
  parking: '#dc2626',
  kitchen: '#7c3aed',
  road_occupation: '#ea580c',
  water_road: '#0284c7',
  gauge: '#0f766e',
  plain: '#4b5563',
}
