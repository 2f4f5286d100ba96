// The renderer reaches the engine only through this TaskloopApi: over the preload bridge inside
// Electron, over HTTP + WebSocket in a browser (`taskloop serve`).
import type { TaskloopApi } from '../../../common/api'
import { electronApi } from './electron'
import { httpApi } from './http'

export function createApi(): TaskloopApi {
  return window.taskloop ? electronApi(window.taskloop) : httpApi()
}
