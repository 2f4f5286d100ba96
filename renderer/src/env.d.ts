/// <reference types="vite/client" />
import type { TaskloopBridge } from '../../preload/bridge'

declare global {
  interface Window {
    /** Present inside the Electron app (exposed by the preload); absent in a plain browser. */
    taskloop?: TaskloopBridge
  }
}

export {}
