// `v-row-testid="'user-row'"` on an <el-table>: puts data-testid on every body row. Element Plus gives rows classes
// and styles only, and the browser tests (ours and other apps') drive rows by test id.
import type { Directive } from 'vue'

const observers = new WeakMap<HTMLElement, MutationObserver>()

function apply(el: HTMLElement, testid: string): void {
  el.querySelectorAll('.el-table__body tr.el-table__row').forEach((row) => {
    if (row.getAttribute('data-testid') !== testid) row.setAttribute('data-testid', testid)
  })
}

export const vRowTestid: Directive<HTMLElement, string> = {
  mounted(el, binding) {
    apply(el, binding.value)
    const observer = new MutationObserver(() => apply(el, binding.value))
    observer.observe(el, { childList: true, subtree: true })
    observers.set(el, observer)
  },
  unmounted(el) {
    observers.get(el)?.disconnect()
    observers.delete(el)
  },
}
