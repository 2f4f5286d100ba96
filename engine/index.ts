// What hosts import from the engine.
export { Engine, defaultLimits } from './engine'
export { EngineClient, startEngineThread } from './thread/client'
export type { EngineHandle, EngineOptions, ShutdownReport } from './handle'
