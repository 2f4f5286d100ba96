// The headless hosts' Ctrl+C (docs/ARCHITECTURE.md "Shutdown"): the first SIGINT/SIGTERM/SIGHUP, a quit
// from the UI, or the host itself starts the engine's graceful shutdown; another Ctrl+C forces it.
import { TaskloopError, type OnStop } from '../common/types'
import type { EngineHandle, ShutdownReport } from '../engine/handle'

/** `lost`: the engine thread died (a bug); the host reports it and exits 1. */
export type ShutdownTrigger = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'quit' | 'done' | 'lost'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * What each stop does with pending tasks when nobody chose (README "Stopping"): a service manager's
 * SIGTERM and a closed terminal's SIGHUP keep the queue for the next start; Ctrl+C and Quit cancel
 * it, as asyncio's KeyboardInterrupt cancels every task.
 */
export const PENDING_ON_STOP: Record<ShutdownTrigger, OnStop> = {
  SIGTERM: 'keep',
  SIGHUP: 'keep',
  SIGINT: 'cancel',
  quit: 'cancel',
  done: 'cancel',
  lost: 'cancel',
}

/** Past the grace plus this, a shutdown that has not finished is forced, then abandoned. */
const WATCHDOG_MS = 10_000
const ABANDON_MS = 5_000
/** How often the host checks that the engine thread still answers. */
const LIVENESS_MS = 2_000

/**
 * Remembers a signal that arrives while the engine thread is still starting (when the default
 * action would kill the process under a half-started engine); hand it to shutdownOnSignals later.
 */
export function holdSignals(): { release(): ShutdownTrigger | null } {
  let held: ShutdownTrigger | null = null
  const hold = (signal: (typeof SIGNALS)[number]): void => void (held ??= signal)
  for (const s of SIGNALS) process.on(s, hold)
  return {
    release() {
      for (const s of SIGNALS) process.off(s, hold)
      return held
    },
  }
}

export interface ShutdownOnSignals {
  /** Resolves once the engine has shut down (or the watchdog gave up on it). */
  readonly finished: Promise<{ trigger: ShutdownTrigger; report: ShutdownReport | null }>
  /** Starts the shutdown; later calls do nothing. `pending`: the user's explicit choice (the Quit dialog). */
  begin(trigger: ShutdownTrigger, pending?: OnStop): void
  /** Removes the signal handlers. */
  dispose(): void
}

export function shutdownOnSignals(
  engine: EngineHandle,
  options: {
    graceMs: number
    say(line: string): void
    /** What a stop does with pending tasks when the user did not choose (--on-stop, else PENDING_ON_STOP). */
    pendingOn?(trigger: ShutdownTrigger): OnStop
  },
): ShutdownOnSignals {
  const pendingOn = options.pendingOn ?? ((t: ShutdownTrigger) => PENDING_ON_STOP[t])
  let trigger: ShutdownTrigger | null = null
  let resolveFinished!: (value: { trigger: ShutdownTrigger; report: ShutdownReport | null }) => void
  const finished = new Promise<{ trigger: ShutdownTrigger; report: ShutdownReport | null }>((r) => (resolveFinished = r))
  const timers: NodeJS.Timeout[] = []

  const begin = (t: ShutdownTrigger, chosen?: OnStop): void => {
    if (trigger !== null) return
    trigger = t
    const keep = (chosen ?? pendingOn(t)) === 'keep'
    // Asked in this order so the counts are from before the engine cancels anything
    // (the thread proxy keeps call order; the in-process engine reads them synchronously).
    const stats = engine.stats().catch(() => null)
    const shutdown = engine.shutdown({ pending: keep ? 'keep' : 'cancel' })
    if (t !== 'done' && t !== 'lost') {
      void stats.then((s) => {
        const running = s ? s.counters.running + s.counters.cancelling : '?'
        const pending = s ? s.counters.pending : '?'
        const fate = keep ? 'kept for the next start' : 'cancelled'
        options.say(`Shutting down: ${running} running, ${pending} pending ${fate}... (Ctrl+C again to force)`)
      })
    }
    timers.push(
      setTimeout(() => {
        options.say('Shutdown is taking too long: forcing.')
        engine.escalate()
        timers.push(
          setTimeout(() => {
            options.say('The engine did not finish shutting down; exiting anyway.')
            resolveFinished({ trigger: t, report: null })
          }, ABANDON_MS),
        )
      }, options.graceMs + WATCHDOG_MS),
    )
    shutdown.then(
      (report) => resolveFinished({ trigger: t, report }),
      (e: unknown) => {
        options.say(`Shutdown failed: ${e instanceof Error ? e.message : String(e)}`)
        resolveFinished({ trigger: t, report: null })
      },
    )
  }

  const onSignal = (signal: (typeof SIGNALS)[number]): void => {
    if (trigger === null) return begin(signal)
    if (signal === 'SIGHUP') return // the terminal went away; the shutdown already runs
    options.say('Forcing: stopping everything still running now.')
    engine.escalate()
  }
  for (const s of SIGNALS) process.on(s, onSignal)
  engine.onQuitRequested((o) => begin('quit', o.pending))
  // Without this, a dead engine thread would leave `run` waiting for events forever.
  const liveness = setInterval(() => {
    if (trigger !== null) return
    engine.stats().catch((e: unknown) => {
      // Blocked is not lost: the engine's supervisor ends the blocking job and restarts the engine.
      if (trigger !== null || (e instanceof TaskloopError && e.code === 'engine-blocked')) return
      options.say(`The engine stopped unexpectedly: ${e instanceof Error ? e.message : String(e)}`)
      begin('lost')
    })
  }, LIVENESS_MS)
  liveness.unref()
  timers.push(liveness)

  void finished.then(() => timers.forEach((t) => clearTimeout(t)))
  return {
    finished,
    begin,
    dispose() {
      for (const s of SIGNALS) process.off(s, onSignal)
      timers.forEach((t) => clearTimeout(t))
    },
  }
}
