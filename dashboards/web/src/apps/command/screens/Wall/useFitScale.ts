// The wall is laid out for 1920x1080 and scaled as a whole to the window (a 4K wall, a laptop preview), letterboxed
// and centred, so nothing is cut off and no scrollbar appears.
import { computed, onBeforeUnmount, ref } from 'vue'

export const WALL_W = 1920
export const WALL_H = 1080

export function fitScale(width: number, height: number): { scale: number; left: number; top: number } {
  const scale = Math.min(width / WALL_W, height / WALL_H)
  return { scale, left: (width - WALL_W * scale) / 2, top: (height - WALL_H * scale) / 2 }
}

export function useFitScale() {
  const size = ref({ width: window.innerWidth, height: window.innerHeight })
  const onResize = (): void => {
    size.value = { width: window.innerWidth, height: window.innerHeight }
  }
  window.addEventListener('resize', onResize)
  onBeforeUnmount(() => window.removeEventListener('resize', onResize))
  return computed(() => {
    const { scale, left, top } = fitScale(size.value.width, size.value.height)
    return { transform: `translate(${left}px, ${top}px) scale(${scale})`, scale }
  })
}
