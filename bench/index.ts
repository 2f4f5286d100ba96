// `npm run bench`: every scenario against its peers in this one process, then bench/RESULTS.md.
// BENCH_QUICK=1: smaller counts, one measured run (a smoke run). --only NAME[,NAME]: those scenarios.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { BENCH_DIR, QUICK, codeVersion, fmtMs, fmtOps, loadavg, machine, type Config, type Row, type Scenario } from './harness'
import { cancel } from './scenarios/cancel'
import { cluster } from './scenarios/cluster'
import { firstUse } from './scenarios/first-use'
import { loopNoop } from './scenarios/loop-noop'
import { mixed } from './scenarios/mixed'
import { processTiny } from './scenarios/process-tiny'
import { queue } from './scenarios/queue'
import { serveE2e } from './scenarios/serve-e2e'
import { submitScaling } from './scenarios/submit-scaling'
import { threadCpu } from './scenarios/thread-cpu'
import { threadTiny } from './scenarios/thread-tiny'

const SCENARIOS: Scenario[] = [threadTiny, threadCpu, processTiny, loopNoop, cancel, mixed, submitScaling, queue, serveE2e, cluster, firstUse]

const quick = QUICK
const cfg: Config = quick
  ? { quick, runs: 1, scale: (n) => Math.max(10, Math.round(n / 10)) }
  : { quick, runs: 5, scale: (n) => n }

const onlyAt = process.argv.indexOf('--only')
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '').split(',') : null
const unknown = only?.filter((n) => !SCENARIOS.some((s) => s.name === n)) ?? []
if (unknown.length > 0 || (only && only.length === 0)) {
  console.error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  process.exit(2)
}
const chosen = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS

const m = machine()
const code = codeVersion()
console.log(
  `Taskloop bench — ${m.cores} cores, ${m.model}, Node ${m.node}, load average ${m.load}${quick ? ' — QUICK (smoke run, not comparable)' : ''}`,
)
const started = performance.now()
const rows: Row[] = []
for (const s of chosen) {
  console.log(`\n${s.title}`)
  const t0 = performance.now()
  let mine: Row[]
  try {
    mine = await s.run(cfg)
  } catch (e) {
    // One broken scenario must not hide the others' figures.
    const message = e instanceof Error ? e.message : String(e)
    console.error(`  FAILED: ${message}`)
    mine = [{ scenario: s.title, contender: 'scenario failed', medianMs: null, opsPerSec: null, vsPeer: '', goal: 'completes', met: false, got: message }]
  }
  for (const r of mine) console.log(`  ${r.contender}: ${fmtMs(r.medianMs)}, ${fmtOps(r.opsPerSec)} ops/s, ${r.vsPeer}${r.note ? ` (${r.note})` : ''}`)
  console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
  rows.push(...mine)
}
const totalS = (performance.now() - started) / 1000
const loadEnd = loadavg()

const head = ['scenario', 'contender', 'median', 'ops/s', 'vs peer', 'goal', 'met']
const cells = rows.map((r) => [
  r.scenario,
  r.contender,
  fmtMs(r.medianMs),
  fmtOps(r.opsPerSec),
  r.vsPeer,
  r.goal,
  r.met === null ? '' : r.met ? 'yes' : 'NO',
])
const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
const line = (c: string[]): string => c.map((x, i) => x.padEnd(widths[i]!)).join('  ')
console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`)
for (const c of cells) console.log(line(c))

const misses = rows.filter((r) => r.met === false)
console.log(
  misses.length === 0
    ? '\nEvery goal met.'
    : `\nGOALS MISSED (${misses.length}):\n${misses.map((r) => `  ✗ ${r.scenario} — ${r.contender}: ${r.goal}, got ${r.got ?? r.vsPeer}`).join('\n')}`,
)
console.log(`\ntotal ${totalS.toFixed(0)} s; 1-minute load average ${m.load} at the start, ${loadEnd} at the end (${m.cores} cores)`)
console.log('The live UI beside Bull Board (a redis-server and Chromium, ~3 min): npm run bench:ui, figures in bench/ui/RESULTS.md')

// A partial or quick run would overwrite the full figures with ones not worth keeping.
if (!quick && !only) {
  const md = [
    '# Taskloop benchmark results',
    '',
    `Written by \`npm run bench\` (bench/index.ts) on ${m.date}; total run time ${totalS.toFixed(0)} s. Code: ${code}.`,
    '',
    `Machine: ${m.cores} cores, ${m.model}, Node ${m.node}. 1-minute load average ${m.load} at the start, ${loadEnd} at the end` +
      ` (above ${m.cores} means other processes competed for the cores: the stalls of scenario 5 suffer most).`,
    '',
    `Medians of ${cfg.runs} runs after a warm-up round (scenarios 4, 6, 8, 10a, 11 and 9's tiny row: ${Math.min(cfg.runs, 3)} runs; 10b and 10c: one; 5: 100 cancels),` +
      ' all contenders in the same process, runs interleaved round-robin.',
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...cells.map((c) => `| ${c.join(' | ')} |`),
    '',
    misses.length === 0 ? 'Every goal met.' : `**Goals missed (${misses.length}):**`,
    ...misses.map((r) => `- ${r.scenario} — ${r.contender}: ${r.goal}, got ${r.got ?? r.vsPeer}`),
    '',
    '## Notes per row',
    '',
    ...rows.filter((r) => r.note).map((r) => `- ${r.scenario} — ${r.contender}: ${r.note}`),
    '',
  ].join('\n')
  writeFileSync(path.join(BENCH_DIR, 'RESULTS.md'), md)
  console.log('wrote bench/RESULTS.md')
}
// A contender that hung may have left workers or children behind; they must not keep the bench alive.
process.exit(rows.some((r) => r.contender === 'scenario failed') ? 1 : 0)
