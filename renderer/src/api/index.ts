// The renderer reaches the engine only through this TaskloopApi: over the preload bridge inside
// Electron, over HTTP + WebSocket in a browser (`taskloop serve`).
import { ref } from 'vue'
import type { TaskloopApi } from '../../../common/api'
import { electronApi } from './electron'
import { httpApi } from './http'

/** In a browser: the server refuses this tab's login (it restarted with another token); the App says what to do. */
export const loginLost = ref(false)

export function createApi(): TaskloopApi {
  return window.taskloop ? electronApi(window.taskloop) : httpApi({ onLoginLost: (lost) => (loginLost.value = lost) })
}
