// A clock for live durations and countdowns: one ref, ticking only while a component uses it.
import { onScopeDispose, ref, type Ref } from 'vue'

export function useNow(intervalMs = 250): Ref<number> {
  const now = ref(Date.now())
  const timer = setInterval(() => (now.value = Date.now()), intervalMs)
  onScopeDispose(() => clearInterval(timer))
  return now
}
