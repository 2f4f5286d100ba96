// One window-wide keyboard handler for the app's shortcuts, torn down with the component.
import { onBeforeUnmount, onMounted } from 'vue'

/** Typing in a field: single-letter shortcuts must not fire. */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null
  if (!el || typeof el.closest !== 'function') return false
  if (el.isContentEditable) return true
  const field = el.closest('input, textarea, select')
  if (!field) return false
  const type = (field as HTMLInputElement).type
  return !(field.tagName === 'INPUT' && (type === 'checkbox' || type === 'radio' || type === 'button'))
}

/** The handler returns true when it used the key (the browser's default is then prevented). */
export function onKeyStroke(handler: (e: KeyboardEvent, typing: boolean) => boolean): void {
  const listener = (e: KeyboardEvent): void => {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return
    if (handler(e, isTyping(e.target))) e.preventDefault()
  }
  onMounted(() => window.addEventListener('keydown', listener))
  onBeforeUnmount(() => window.removeEventListener('keydown', listener))
}
