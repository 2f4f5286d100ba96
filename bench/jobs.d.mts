// Types for jobs.mjs, which stays plain JS so Piscina and tinypool workers load it without a TS loader.
export function tiny(params: { n: number }): number
export function spin(params: { ms: number }): number
export function work(params: { k: number }): number
export function busy(params: { ms: number; started?: SharedArrayBuffer }, ctx?: { progress?(f: number): void }): number
export function noop(): Promise<void>
export function hold(params: { ms: number; started?: SharedArrayBuffer }, ctx?: { signal?: AbortSignal; progress?(f: number): void }): Promise<void>
export function queueProduce(params: { queue: string; n: number }, ctx: unknown): Promise<void>
export function queueConsume(params: { queue: string; n: number }, ctx: unknown): Promise<number>
