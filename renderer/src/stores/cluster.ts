// The cluster this node belongs to, as GET /api/cluster says: nodes, queue counts,
// whether Redis is reachable. No event carries it, so it is polled: every 2 s while the Cluster view
// is shown (`watch`), every 10 s otherwise so the Redis banner shows wherever the user is, and not
// at all once the node says it is in no cluster (a node joins only at its start). The tab being in
// the background skips the poll. The cluster settings (the app's, or serve's flags) are read here too.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { ClusterInfo, ClusterSettings, ClusterSettingsUpdate } from '../../../common/types'
import { TaskloopError } from '../../../common/types'
import { useTasksStore } from './tasks'

/** Poll period while the Cluster view is shown. */
export const CLUSTER_POLL_MS = 2000
/** Poll period otherwise (only while in a cluster): the banner says Redis is gone within this. */
export const CLUSTER_IDLE_POLL_MS = 10_000

export const useClusterStore = defineStore('cluster', () => {
  const tasks = useTasksStore()
  /** The last answer; null before the first. */
  const info = shallowRef<ClusterInfo | null>(null)
  /** Why the last poll got no answer (the node itself unreachable), null when it answered. */
  const error = ref<string | null>(null)
  const settings = shallowRef<ClusterSettings | null>(null)
  const watchers = ref(0)

  const enabled = computed(() => info.value?.enabled === true)
  /** In a cluster and Redis does not answer: the banner. */
  const unreachable = computed(() => info.value?.enabled === true && !info.value.connected)
  /** This node's id in the cluster, null alone. */
  const nodeId = computed(() => info.value?.nodeId ?? null)

  let timer: ReturnType<typeof setTimeout> | null = null
  /** The App started polling (start); a shown Cluster view polls as well (watch). */
  let started = false
  let inFlight: Promise<void> | null = null

  function refresh(): Promise<void> {
    inFlight ??= (async () => {
      try {
        info.value = await tasks.connection().cluster()
        error.value = null
      } catch (e) {
        error.value = TaskloopError.from(e).message
      } finally {
        inFlight = null
      }
    })()
    return inFlight
  }

  /** The next poll, replacing any one planned. */
  function schedule(): void {
    if (timer) clearTimeout(timer)
    timer = null
    const watched = watchers.value > 0
    // Alone (and not watched): nothing will change until the node restarts.
    if (!(started || watched) || (info.value && !info.value.enabled && !watched)) return
    timer = setTimeout(() => void poll(), watched ? CLUSTER_POLL_MS : CLUSTER_IDLE_POLL_MS)
  }

  /** Polls now (unless the page is in the background), then plans the next. */
  async function poll(): Promise<void> {
    if (timer) clearTimeout(timer)
    timer = null
    if (typeof document === 'undefined' || !document.hidden) await refresh()
    schedule()
  }

  /** Starts polling (the App does, once connected); returns the stop. */
  function start(): () => void {
    started = true
    void poll()
    return () => {
      started = false
      schedule()
    }
  }

  /** A view showing the cluster: poll at once, then every 2 s, until the returned function is called. */
  function watch(): () => void {
    watchers.value++
    void poll()
    let done = false
    return () => {
      if (done) return
      done = true
      watchers.value--
      schedule()
    }
  }

  async function loadSettings(): Promise<void> {
    settings.value = await tasks.connection().clusterSettings()
  }

  /** Saves the app's cluster settings (for its next start); rejects with the refusal, for the form to show. */
  async function saveSettings(update: ClusterSettingsUpdate): Promise<void> {
    settings.value = await tasks.connection().clusterSettings(update)
  }

  return { info, error, settings, enabled, unreachable, nodeId, refresh, start, watch, loadSettings, saveSettings }
})
