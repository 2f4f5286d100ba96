// Every OS process the engine starts (pool processes, command process groups), so that whoever
// outlives the engine thread can end them: nothing may outlive the app.
/** `marker`: a command's run token (orphans.ts), to find the descendants that left its group. */
type Listener = (pid: number, group: boolean, alive: boolean, marker?: string) => void

const listeners = new Set<Listener>()

export function watchChildren(listener: Listener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

/** `group`: the pid leads its own process group (a command), kill -pid ends the whole tree. */
export function childStarted(pid: number, group: boolean, marker?: string): void {
  for (const l of listeners) l(pid, group, true, marker)
}

export function childEnded(pid: number, group: boolean): void {
  for (const l of listeners) l(pid, group, false)
}
