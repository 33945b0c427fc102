/**
 * `npm run bench [-- options]`: Berth's benchmark, optionally beside the reference registry
 * (CNCF distribution 2.8.2 from Debian's docker-registry package).
 *
 *   --vs-reference      also run the reference registry (installed with apt-get when missing)
 *   --quick             smaller sizes and shorter loads (about two minutes with --vs-reference)
 *   --runs N            repeat the whole suite N times with fresh servers; medians and min-max
 *   --only a,b,...      run only these scenarios (a b c d e f g x)
 *   --out FILE          JSON lines file (default bench/results/<timestamp>.jsonl)
 *   --ref-auth htpasswd run the reference with a bcrypt htpasswd for the same user (default none: the
 *                       reference as issue 5 measured it, at its fastest, while Berth always checks credentials)
 *   --berth MODE        bundle (default: the production build of src/, scripts/bundle.ts, into .tmp/bench-bundle), dist
 *                       (dist/main.js from npm run build) or tsx (src/ through the tsx loader)
 *   --cpu-prof DIR      run Berth under node --cpu-prof, profiles written to DIR
 *   --log-level LEVEL   Berth's log level (default info, as `berth serve`: one line per request)
 *   --load node         use the Node load generator instead of wrk
 *                       (pulls in c and g use curl when installed; BENCH_PULL_CLIENT=node for the Node client)
 *   --table FILE        run nothing: print the table of an earlier (possibly interrupted) JSON lines file
 *
 * Loopback only; every server started here is stopped by its PID, also on errors and Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { agent } from './client.ts';
import { FULL, type Metric, QUICK, type RunState, SCENARIOS } from './scenarios.ts';
import { type Registry, sampleProcess, startBerth, startReference } from './servers.ts';

const { values: args } = parseArgs({
  options: {
    'vs-reference': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    only: { type: 'string' },
    out: { type: 'string' },
    'ref-auth': { type: 'string', default: 'none' },
    berth: { type: 'string', default: 'bundle' },
    'cpu-prof': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    load: { type: 'string' },
    table: { type: 'string' },
  },
});

const sizes = args.quick ? QUICK : FULL;
const runs = Math.max(1, Number(args.runs));
let tableRuns = runs;
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim())) : undefined;
const scenarios = SCENARIOS.filter((s) => !only || only.has(s.id));
const out = resolve(args.out ?? join(import.meta.dirname, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}${args.quick ? '-quick' : ''}.jsonl`));
mkdirSync(dirname(out), { recursive: true });
if (args.load === 'node' || args.load === 'wrk') process.env.BENCH_LOAD_TOOL = args.load;

type Kind = Registry['kind'];
interface Row {
  run: number;
  registry: Kind;
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  higherIsBetter: boolean;
}
interface Usage {
  run: number;
  registry: Kind;
  scenario: string;
  peakRssMiB: number;
  cpuSeconds: number;
  wallSeconds: number;
}
const rows: Row[] = [];
const usages: Usage[] = [];
const started: Registry[] = [];

function record(line: object): void {
  appendFileSync(out, `${JSON.stringify(line)}\n`);
}

async function stopAll(): Promise<void> {
  while (started.length > 0) {
    const r = started.pop()!;
    try {
      await r.stop();
    } catch (err) {
      console.error(`stopping ${r.kind} (pid ${r.pid}) failed:`, err);
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping servers`);
    void stopAll().finally(() => process.exit(130));
  });
}

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
};

/**
 * The seconds a run waits after the previous run's data dirs were deleted. On an ext4 without a
 * journal (this machine's), allocating an inode skips, one by one, those freed in the last 30 s
 * (perf: ext4 find_inode_bit -> recently_deleted): after a data dir of thousands of files went,
 * Berth's file creations averaged 0.9 ms for ~15 s instead of 0.05-0.09 ms, and the reference,
 * which makes more files per image, pays it too: d measured whoever ran into it, not the registry.
 * Within a run the same holds between registries: Berth's d ran right after the reference's, whose
 * d deletes its upload directories as it goes (24,000 unlinkat for 2,000 images); so the second
 * registry's d also waits (Scenario.createsManyFiles).
 */
const DELETE_SETTLE_SECONDS = 35;

async function afterDeletes(): Promise<void> {
  console.error(`waiting ${DELETE_SETTLE_SECONDS} s for the inodes freed meanwhile to be reusable ...`);
  await new Promise((resolve) => setTimeout(resolve, DELETE_SETTLE_SECONDS * 1000));
}

/**
 * Writes every dirty page back (sync(1)) before a registry's scenario, outside its timing. The
 * reference never fsyncs: the 1 GiB it just pushed sits dirty in the page cache, and with 24 GiB
 * of RAM nothing writes it back until it is 30 s old (vm.dirty_expire_centisecs), which is when
 * the registry running the same scenario next would be writing.
 *
 * That is not all the second registry pays on this machine: in session 9, Berth's 1 GiB push
 * after the reference's took 1.5 s of system CPU against 0.8 s before it, and its chunked push
 * after the reference's pushes ran at 167 MB/s (3.2 s system CPU) against 312 MB/s alone, sync
 * or not. perf: the kernel copying written bytes into page-cache pages
 * (copy_folio_from_iter_atomic) went from 25% to 41% of Berth's samples, with no memory
 * pressure. Likely the VM (a Firecracker guest, kernel *-fc): if the host backs guest memory on
 * first touch, page cache taken after another process's gigabyte is slower to fill (not proven).
 * Nothing the registry does; the order alternates between runs instead: with --runs 3, Berth
 * goes second in two.
 */
function flushDirtyPages(): void {
  execFileSync('sync');
}

async function runOnce(run: number): Promise<void> {
  const registries: Registry[] = [];
  if (args['vs-reference']) {
    const ref = await startReference(args['ref-auth'] === 'htpasswd');
    started.push(ref);
    registries.push(ref);
  }
  const nodeFlags: string[] = [];
  if (args['cpu-prof']) nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`);
  const berth = await startBerth({ mode: args.berth as 'bundle' | 'dist' | 'tsx', nodeFlags, logLevel: args['log-level'] });
  started.push(berth);
  registries.push(berth);
  console.error(`run ${run}: ${registries.map((r) => `${r.kind} ${r.baseUrl} pid ${r.pid}`).join(', ')}`);

  const states = new Map<Kind, RunState>(registries.map((r) => [r.kind, {}]));
  // Odd runs start each scenario with the reference, even runs with Berth (see flushDirtyPages).
  const order = run % 2 === 1 ? registries : [...registries].reverse();
  for (const scenario of scenarios) {
    for (const [i, r] of order.entries()) {
      if (scenario.berthOnly && r.kind !== 'berth') continue;
      // The registry before it just ran the same scenario, deleting files as it went.
      if (scenario.createsManyFiles && i > 0) await afterDeletes();
      const state = states.get(r.kind)!;
      const prepared = await scenario.setup?.(r, sizes, state);
      flushDirtyPages();
      const sampler = sampleProcess(r.pid);
      const t0 = performance.now();
      let metrics: Metric[];
      try {
        metrics = await scenario.run(r, sizes, state, prepared);
      } finally {
        const wallSeconds = (performance.now() - t0) / 1000;
        const usage = { run, registry: r.kind, scenario: scenario.id, ...sampler.stop(), wallSeconds };
        usages.push(usage);
        record({ type: 'usage', ...usage });
      }
      for (const m of metrics) {
        const row = { run, registry: r.kind, scenario: scenario.id, ...m };
        rows.push(row);
        record({ type: 'metric', ...row });
      }
      const u = usages[usages.length - 1]!;
      console.error(`  ${scenario.id} ${r.kind.padEnd(9)} ${metrics.map((m) => `${m.metric} ${fmt(m.value)}`).join(', ')}  [rss ${u.peakRssMiB.toFixed(0)} MiB, cpu ${u.cpuSeconds.toFixed(1)} s]`);
    }
  }
  await stopAll();
  agent.destroy();
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function stats(values: number[]): { median: number; min: number; max: number } | undefined {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return { median: v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2, min: v[0]!, max: v[v.length - 1]! };
}

function cell(values: number[]): string {
  const s = stats(values);
  if (!s) return '-';
  return tableRuns > 1 ? `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})` : fmt(s.median);
}

function printTable(): string {
  const lines: string[] = [];
  const withRef = Boolean(args['vs-reference']);
  lines.push(
    withRef
      ? '| scenario | metric | reference | Berth | Berth vs ref | Berth peak RSS MiB | Berth CPU s | ref peak RSS MiB | ref CPU s |'
      : '| scenario | metric | Berth | Berth peak RSS MiB | Berth CPU s |',
  );
  lines.push(withRef ? '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |' : '| --- | --- | ---: | ---: | ---: |');
  for (const scenario of scenarios) {
    const metrics = [...new Set(rows.filter((r) => r.scenario === scenario.id).map((r) => r.metric))];
    const use = (kind: Kind, key: 'peakRssMiB' | 'cpuSeconds'): string => cell(usages.filter((u) => u.scenario === scenario.id && u.registry === kind).map((u) => u[key]));
    metrics.forEach((metric, i) => {
      const of = (kind: Kind): number[] => rows.filter((r) => r.scenario === scenario.id && r.metric === metric && r.registry === kind).map((r) => r.value);
      const b = of('berth');
      const first = i === 0;
      const res = first ? [use('berth', 'peakRssMiB'), use('berth', 'cpuSeconds')] : ['', ''];
      if (!withRef) {
        lines.push(`| ${first ? scenario.id : ''} | ${metric} | ${cell(b)} | ${res.join(' | ')} |`);
        return;
      }
      const ref = of('reference');
      const higher = rows.find((r) => r.metric === metric)?.higherIsBetter ?? true;
      const bm = stats(b)?.median;
      const rm = stats(ref)?.median;
      // >1 always means Berth is better: throughput ratio, or the inverse ratio of times.
      const ratio = bm !== undefined && rm !== undefined ? (higher ? bm / rm : rm / bm) : NaN;
      const refRes = first ? [use('reference', 'peakRssMiB'), use('reference', 'cpuSeconds')] : ['', ''];
      lines.push(`| ${first ? scenario.id : ''} | ${metric} | ${cell(ref)} | ${cell(b)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a'} | ${res.join(' | ')} | ${refRes.join(' | ')} |`);
    });
  }
  return lines.join('\n');
}

let failed = false;
if (args.table) {
  // Re-tabulate a results file: its runs, scenarios and registries decide the table's shape.
  // A file may hold several invocations (each starts with a 'start' line, its runs numbered from 1).
  let invocation = 0;
  const runIds = new Set<string>();
  for (const line of readFileSync(args.table, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const entry = JSON.parse(line) as { type: string } & Row & Usage & { vsReference?: boolean };
    if (entry.type === 'start') invocation++;
    else if (entry.type === 'metric') {
      rows.push(entry);
      runIds.add(`${invocation}.${entry.run}`);
    } else if (entry.type === 'usage') usages.push(entry);
  }
  const runsSeen = runIds.size;
  const seen = new Set(rows.map((r) => r.scenario));
  scenarios.splice(0, scenarios.length, ...scenarios.filter((s) => seen.has(s.id)));
  args['vs-reference'] = rows.some((r) => r.registry === 'reference');
  console.log(`${args.table}: ${runsSeen} run(s)${runsSeen > 1 ? ', median (min-max)' : ''}; "Berth vs ref" > 1 means Berth is better\n`);
  tableRuns = runsSeen;
  console.log(printTable());
  process.exit(0);
}
try {
  record({ type: 'start', at: new Date().toISOString(), quick: args.quick, runs, sizes, machine, vsReference: args['vs-reference'], refAuth: args['ref-auth'] });
  for (let run = 1; run <= runs; run++) {
    if (run > 1) await afterDeletes();
    await runOnce(run);
  }
} catch (err) {
  failed = true;
  console.error('benchmark failed:', err);
} finally {
  await stopAll();
}
const table = printTable();
console.log(`\n${machine.cpus} x ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}; ${args.quick ? 'quick' : 'full'} sizes, ${runs} run(s)${runs > 1 ? ', median (min-max)' : ''}; "Berth vs ref" > 1 means Berth is better\n`);
console.log(table);
console.log(`\nJSON lines: ${out}`);
record({ type: 'table', markdown: table });
process.exit(failed ? 1 : 0);
