/**
 * `npm run bench:mem [-- options]`: where Berth's memory goes, scenario by scenario, on one server.
 *
 *   --only d,e,f,g   scenarios to run in this order on one fresh server (default d,e,f,g; repeats
 *                    allowed: d,d,d shows whether something grows with the work or levels off)
 *   --quick          the benchmark's quick sizes
 *   --node-flags ".." extra node flags for the server
 *
 * After start-up and after each scenario it prints the server's RSS split into anonymous and
 * file-backed pages (the node binary's own pages are most of the latter), glibc's main heap (the
 * `[heap]` mapping: SQLite's page cache, Buffers below the mmap threshold), and V8's heap (total,
 * used, external, per space, from the server's /metrics); for each scenario also the peak RSS
 * and the user and system CPU seconds it took. Session 4 found the SQLite page cache and a cache
 * pinning Buffer pool slabs this way.
 *
 * Loopback only; the server is stopped by its PID, also on errors.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { agent, request } from './client.ts';
import { FULL, QUICK, SCENARIOS } from './scenarios.ts';
import { cpuTimes, type Registry, sampleProcess, startBerth } from './servers.ts';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'd,e,f,g' },
    quick: { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
  },
});

const sizes = args.quick ? QUICK : FULL;
const plan = args.only.split(',').map((id) => {
  const scenario = SCENARIOS.find((s) => s.id === id.trim());
  if (!scenario) throw new Error(`no scenario ${id} (have ${SCENARIOS.map((s) => s.id).join(' ')})`);
  return scenario;
});

const MiB = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);

/** RSS, its anonymous and file-backed parts, and glibc's main heap, from /proc (kB there). */
function pages(pid: number): string {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? NaN);
  const brk = /\[heap\]\n(?:.*\n)*?Rss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps`, 'utf8'))?.[1];
  const rss = kb('Rss');
  const anon = kb('Anonymous');
  return `rss ${MiB(rss * 1024)} = anon ${MiB(anon * 1024)} + file ${MiB((rss - anon) * 1024)}; glibc heap ${brk ? MiB(Number(brk) * 1024) : '-'}`;
}

/** V8's heap as the server's own /metrics reports it. */
async function v8Heap(r: Registry): Promise<string> {
  const res = await request(r, '/metrics', { method: 'GET' });
  const text = res.body.toString();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  const spaces = [...text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="(\w+?)(?:_space)?"\} (\S+)/gm)]
    .filter((m) => Number(m[2]) >= 512 * 1024)
    .map((m) => `${m[1]} ${MiB(Number(m[2]))}`);
  return `V8 total ${MiB(value('nodejs_heap_size_total_bytes'))} used ${MiB(value('nodejs_heap_size_used_bytes'))} external ${MiB(value('nodejs_external_memory_bytes'))} (${spaces.join(', ')})`;
}

async function report(r: Registry, what: string): Promise<void> {
  console.log(`${what}\n  ${pages(r.pid)}\n  ${await v8Heap(r)}`);
}

const r = await startBerth({ mode: 'bundle', nodeFlags: args['node-flags'].split(' ').filter(Boolean), logLevel: 'info' });
try {
  console.log(`berth pid ${r.pid}, MiB throughout; ${args.quick ? 'quick' : 'full'} sizes`);
  await report(r, 'after start-up');
  const state = {};
  for (const scenario of plan) {
    const prepared = scenario.setup ? await scenario.setup(r, sizes, state) : undefined;
    const before = cpuTimes(r.pid);
    const sampler = sampleProcess(r.pid);
    const metrics = await scenario.run(r, sizes, state, prepared);
    const { peakRssMiB } = sampler.stop();
    const after = cpuTimes(r.pid);
    const figures = metrics.map((m) => `${m.metric} ${m.value.toPrecision(4)}`).join(', ');
    await report(r, `after ${scenario.id}: ${figures}\n  peak rss ${peakRssMiB.toFixed(0)}, cpu user ${(after.user - before.user).toFixed(2)} s system ${(after.system - before.system).toFixed(2)} s`);
  }
} finally {
  await r.stop();
  agent.destroy();
}
