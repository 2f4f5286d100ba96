/// <reference types="vite/client" />
import type { TaskloopBridge } from '../../common/ipc'

declare global {
  interface Window {
    /** Present inside the Electron app (exposed by the preload); absent in a plain browser. */
    taskloop?: TaskloopBridge
  }
}

export {}
