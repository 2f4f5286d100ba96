// What hosts import from the engine.
export { Engine, defaultLimits } from './engine'
export { EngineClient, startEngineThread } from './client'
export type { EngineHandle, EngineOptions, ShutdownReport } from './handle'
