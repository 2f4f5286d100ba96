// A job's call waiting in the engine (a queue get or put, a lock acquire, a wait, a join): it
// waits in a FIFO list until served, or leaves it when its signal aborts (the task's cancel, or
// its run ended), and the job's promise rejects with an AbortError.
export interface Parked<T> {
  /** The task whose job waits. */
  taskId: string
  serve(value: T): void
}

export function abortError(message = 'the task was cancelled'): Error {
  const e = new Error(message)
  e.name = 'AbortError'
  return e
}

/** Adds `entry` to `list` until someone calls its serve(); `onLeave` runs when it leaves by an abort. */
export function park<T, E extends Omit<Parked<T>, 'serve'>>(list: (E & Parked<T>)[], entry: E, signal: AbortSignal, onLeave?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(abortError())
    const parked = entry as E & Parked<T>
    const onAbort = (): void => {
      const i = list.indexOf(parked)
      if (i >= 0) list.splice(i, 1)
      reject(abortError())
      onLeave?.()
    }
    parked.serve = (value) => {
      signal.removeEventListener('abort', onAbort)
      resolve(value)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    list.push(parked)
  })
}
