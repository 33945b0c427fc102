/**
 * `npm run bench:ab -- --base REV [options]`: is a change faster? Two Berth servers side by side,
 * A built from revision REV (a temporary git worktree) and B from this checkout as it is
 * (uncommitted changes included), with the same work given to each in alternating slices.
 *
 * On a small shared machine the speed moves 30-40% within the hour, so two benchmark runs one
 * after the other compare the machine as much as the code; slices alternated between two live
 * servers see the same machine, and swapping which one goes first each round cancels what warms
 * up or cools down. Reports per-round figures and the B/A ratio of the medians, for throughput
 * and for server CPU per operation (steadier than throughput when other work shares the CPU).
 *
 *   --base REV        revision for A (anything `git rev-parse` takes)
 *   --head REV        revision for B instead of this checkout
 *   --scenario d|e|g|push
 *                     d: small-image pushes (default); e: HEAD blob, GET manifest, GET tags and GET of
 *                     a 4 KiB blob loads;
 *                     g: 32 concurrent pulls of one 64 MiB blob (curl when installed, as in the benchmark);
 *                     push: a new blob pushed in one PUT, another in 16 MiB PATCH chunks, then the
 *                     first pulled twice (curl when installed), as a and b then c do it
 *   --mib N           push: MiB per pushed blob (default 256; each server keeps 2 x N MiB per slice
 *                     on disk until it stops)
 *   --rounds N        measured slices per server (default 8)
 *   --warmup N        slices per server run first and not counted (default 1: a fresh process
 *                     runs its first small pushes at a third of its warm rate)
 *   --batch N         d: images per slice (default 300)
 *   --seconds S       e: seconds per load slice (default 2)
 *   --instructions N  e only: run both servers under valgrind's callgrind and count, instead of
 *                     timing loads, the instructions each request costs (all threads, user space):
 *                     each slice sends N of each request, 16 at a time, with counting on. A count
 *                     does not depend on how busy the machine is, but work that falls in a slice
 *                     adds to it (JIT compiles, a major GC, the credential re-check each minute):
 *                     the least count of each side is printed beside the medians. Start with
 *                     `--warmup 4 --rounds 5 --instructions 2000` (the JIT warms up slowly there)
 *   --b-flags="..."   extra node flags for B only (e.g. to try a V8 flag against the same code; with
 *                     the `=`, since the value starts with a dash)
 *   --b-env "K=V .."  extra environment variables for B's process only (e.g. a glibc malloc setting)
 *
 * Loopback only; both servers are stopped by their PIDs and the worktrees removed, also on errors.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { agent, BlobSource, expectStatus, MiB, parallel, pullBlob, pushChunked, pushMonolithic, pushSmallImage, request, smallImage } from './client.ts';
import { FULL, loadSmallRequest, mbps, pushHotImage, seconds, type SmallRequest, smallRequests } from './scenarios.ts';
import { type Registry, sampleProcess, startBerth } from './servers.ts';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    head: { type: 'string' },
    scenario: { type: 'string', default: 'd' },
    rounds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    batch: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '2' },
    mib: { type: 'string', default: '256' },
    'b-flags': { type: 'string', default: '' },
    'b-env': { type: 'string', default: '' },
    instructions: { type: 'string' },
  },
});
if (!args.base || !['d', 'e', 'g', 'push'].includes(args.scenario) || !Number.isInteger(Number(args.mib)) || Number(args.mib) < 1 || (args.instructions !== undefined && (args.scenario !== 'e' || !(Number(args.instructions) >= 1)))) {
  console.error(
    'usage: npm run bench:ab -- --base REV [--head REV] [--scenario d|e|g|push] [--rounds N] [--batch N] [--seconds S] [--mib N] [--instructions N (with e)] [--b-flags="..."] [--b-env "K=V .."]',
  );
  process.exit(2);
}

const repo = resolve(import.meta.dirname, '..');
const rounds = Math.max(1, Number(args.rounds));
const warmup = Math.max(0, Number(args.warmup));

/** A detached worktree of `rev` under .tmp/ab, sharing this checkout's node_modules. */
function worktree(rev: string): string {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], { cwd: repo, encoding: 'utf8' }).trim();
  const dir = join(repo, '.tmp', 'ab', sha.slice(0, 12));
  if (!existsSync(dir)) {
    execFileSync('git', ['worktree', 'add', '--detach', dir, sha], { cwd: repo, stdio: 'ignore' });
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  }
  return dir;
}

function removeWorktree(dir: string): void {
  if (dir === repo) return;
  rmSync(join(dir, 'node_modules'), { force: true });
  execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: repo, stdio: 'ignore' });
}

interface Series {
  label: string;
  unit: string;
  higherIsBetter: boolean;
  values: [number[], number[]];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));
/** `B/A 0.91 (B better by 9%)` for a ratio of B to A. */
function verdict(ratio: number, higherIsBetter: boolean): string {
  const better = higherIsBetter ? ratio : 1 / ratio;
  const by = Math.abs(better - 1) * 100 < 0.5 ? 'nothing' : `${(Math.abs(better - 1) * 100).toFixed(0)}%`;
  return `B/A ${ratio.toFixed(2)} (${better >= 1 ? 'B better' : 'A better'} by ${by})`;
}

/** One slice of work on server `i`; returns the series values it measured, in `series` order. */
type Slice = (r: Registry, round: number, i: number) => Promise<number[]>;

async function prepare(regs: Registry[]): Promise<{ series: Series[]; slice: Slice }> {
  const both = (): [number[], number[]] => [[], []];
  if (args.scenario === 'd') {
    const batch = Math.max(1, Number(args.batch));
    return {
      series: [
        { label: 'small-image push images/s', unit: 'images/s', higherIsBetter: true, values: both() },
        { label: 'server CPU per image ms', unit: 'ms', higherIsBetter: false, values: both() },
      ],
      async slice(r, round, i) {
        const images = Array.from({ length: batch }, (_, k) => smallImage((round * 2 + i) * batch + k));
        const sample = sampleProcess(r.pid, 200);
        const t0 = performance.now();
        await parallel(batch, 16, (k) => pushSmallImage(r, 'bench/ab/app', images[k]!, `r${round}-${k}`));
        return [batch / seconds(t0), (sample.stop().cpuSeconds * 1000) / batch];
      },
    };
  }
  if (args.scenario === 'g') {
    const source = new BlobSource(FULL.concurrentBytes, 3);
    const digest = await source.digest();
    for (const r of regs) await pushMonolithic(r, 'bench/ab/blob', digest, source.size, source.stream());
    return {
      series: [
        { label: `${FULL.concurrentPulls} concurrent pulls MB/s`, unit: 'MB/s', higherIsBetter: true, values: both() },
        { label: 'server CPU per GiB pulled s', unit: 's', higherIsBetter: false, values: both() },
      ],
      async slice(r) {
        const sample = sampleProcess(r.pid, 200);
        let bytes = 0;
        const t0 = performance.now();
        await parallel(FULL.concurrentPulls, FULL.concurrentPulls, async () => {
          const received = await pullBlob(r, 'bench/ab/blob', digest, false);
          bytes += received; // not `bytes += await ...`: that adds to the value read before the await
        });
        return [mbps(bytes, seconds(t0)), sample.stop().cpuSeconds / (bytes / 2 ** 30)];
      },
    };
  }
  if (args.scenario === 'push') {
    const bytes = Number(args.mib) * MiB;
    return {
      series: [
        { label: 'monolithic push MB/s', unit: 'MB/s', higherIsBetter: true, values: both() },
        { label: 'chunked push MB/s', unit: 'MB/s', higherIsBetter: true, values: both() },
        { label: 'server CPU per GiB pushed s', unit: 's', higherIsBetter: false, values: both() },
        { label: 'first pull of the new blob MB/s', unit: 'MB/s', higherIsBetter: true, values: both() },
        { label: 'second pull MB/s', unit: 'MB/s', higherIsBetter: true, values: both() },
        { label: 'server CPU per GiB pulled s', unit: 's', higherIsBetter: false, values: both() },
      ],
      async slice(r, round, i) {
        // New bytes every slice (a blob already stored would not be written again).
        const mono = new BlobSource(bytes, 1000 + round * 4 + i * 2);
        const chunked = new BlobSource(bytes, 1001 + round * 4 + i * 2);
        const digest = await mono.digest();
        await chunked.digest();
        const name = `bench/ab/r${round}`;
        const pushing = sampleProcess(r.pid, 200);
        let t0 = performance.now();
        await pushMonolithic(r, name, digest, bytes, mono.stream());
        const monoRate = mbps(bytes, seconds(t0));
        t0 = performance.now();
        await pushChunked(r, `${name}-chunked`, chunked, FULL.chunkBytes);
        const chunkedRate = mbps(bytes, seconds(t0));
        const gib = (2 * bytes) / 2 ** 30; // pushed, then pulled
        const pushCpu = pushing.stop().cpuSeconds / gib;
        const pulling = sampleProcess(r.pid, 200);
        const rates: number[] = [];
        for (let k = 0; k < 2; k++) {
          t0 = performance.now();
          const received = await pullBlob(r, name, digest, false);
          rates.push(mbps(received, seconds(t0)));
        }
        return [monoRate, chunkedRate, pushCpu, rates[0]!, rates[1]!, pulling.stop().cpuSeconds / gib];
      },
    };
  }
  // Each server its own image (random layer bytes): the same requests, by label, on both.
  // Scenario e's three requests, and a GET of the 4 KiB layer (a small blob download).
  const requests = await Promise.all(
    regs.map(async (r) => {
      const hot = await pushHotImage(r);
      return [...smallRequests(hot), { label: 'GET small blob', method: 'GET' as const, path: `/v2/${hot.name}/blobs/${hot.layer}`, headers: {} }];
    }),
  );
  if (callgrindDir) {
    const n = Number(args.instructions);
    return {
      series: requests[0]!.map(({ label }) => ({ label: `${label} instructions per request`, unit: 'instructions', higherIsBetter: false, values: both() })),
      async slice(r, _round, i) {
        const out: number[] = [];
        for (const req of requests[i]!) out.push((await countInstructions(r, req, n, callgrindDir)) / n);
        return out;
      },
    };
  }
  return {
    series: requests[0]!.flatMap(({ label }) => [
      { label: `${label} req/s`, unit: 'req/s', higherIsBetter: true, values: both() },
      { label: `${label} server CPU per request us`, unit: 'us', higherIsBetter: false, values: both() },
    ]),
    async slice(r, _round, i) {
      const out: number[] = [];
      for (const request of requests[i]!) {
        const sample = sampleProcess(r.pid, 200);
        const res = await loadSmallRequest(r, request, 64, Number(args.seconds));
        if (res.errors > 0) console.error(`  ${i === 0 ? 'A' : 'B'} ${request.label}: ${res.errors} errors of ${res.requests}`);
        out.push(res.rps, (sample.stop().cpuSeconds * 1e6) / res.requests);
      }
      return out;
    },
  };
}

/** Where callgrind writes its counts, with --instructions. */
const callgrindDir = args.instructions === undefined ? undefined : mkdtempSync(join(tmpdir(), 'berth-ab-callgrind-'));

function callgrindControl(...argv: string[]): void {
  execFileSync('callgrind_control', argv, { stdio: 'ignore' });
}

/**
 * The instructions `r` runs (every thread, user space) while it answers `n` of `req`, 16 at a
 * time: counting is switched on for exactly that stretch and the count dumped.
 */
async function countInstructions(r: Registry, req: SmallRequest, n: number, dir: string): Promise<number> {
  const pid = String(r.pid);
  const dumps = () => readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.`));
  const before = dumps().length;
  callgrindControl('--zero', pid);
  callgrindControl('--instr=on', pid);
  await parallel(n, 16, async () => {
    expectStatus(await request(r, req.path, { method: req.method, headers: req.headers }), 200, req.label);
  });
  callgrindControl('--instr=off', pid);
  callgrindControl('--dump', pid);
  for (let attempt = 0; dumps().length === before; attempt++) {
    if (attempt > 600) throw new Error(`callgrind wrote no dump for ${pid}`);
    await sleep(100);
  }
  const newest = dumps()
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
  const totals = /^totals:\s+(\d+)/m.exec(readFileSync(newest, 'utf8'));
  if (!totals) throw new Error(`no totals in ${newest}`);
  return Number(totals[1]);
}

/** valgrind's callgrind, counting only while told to (countInstructions); JIT code needs --smc-check. */
function callgrindWrapper(dir: string): string[] {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
  } catch {
    console.error('--instructions needs valgrind (Debian: apt-get install valgrind)');
    process.exit(2);
  }
  return ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, 'cg.%p')}`];
}

const trees = [worktree(args.base), args.head ? worktree(args.head) : repo];
const regs: Registry[] = [];
try {
  const words = (s: string) => s.split(' ').filter(Boolean);
  const bFlags = words(args['b-flags']);
  const bEnv = Object.fromEntries(words(args['b-env']).map((kv) => {
    const [name, value = ''] = kv.split(/=(.*)/s);
    return [name, value];
  }));
  const bExtra = [args['b-env'], args['b-flags']].filter(Boolean).join(' ');
  const wrapper = callgrindDir ? callgrindWrapper(callgrindDir) : undefined;
  for (const [i, root] of trees.entries()) {
    regs.push(await startBerth({ mode: 'bundle', root, nodeFlags: i === 1 ? bFlags : [], env: i === 1 ? bEnv : {}, logLevel: 'info', wrapper }));
  }
  const { series, slice } = await prepare(regs);
  for (let round = 0; round < warmup + rounds; round++) {
    for (const i of round % 2 ? [1, 0] : [0, 1]) {
      const values = await slice(regs[i]!, round, i);
      if (round >= warmup) values.forEach((v, k) => series[k]!.values[i === 0 ? 0 : 1].push(v));
    }
    process.stderr.write(`round ${round + 1}/${warmup + rounds} done${round < warmup ? ' (warm-up, not counted)' : ''}\n`);
  }
  console.log(`A = ${args.base}, B = ${args.head ?? 'this checkout'}${bExtra ? ` with ${bExtra}` : ''}; scenario ${args.scenario}, ${rounds} rounds alternated after ${warmup} warm-up`);
  for (const s of series) {
    const [a, b] = s.values;
    const ratio = median(b) / median(a);
    console.log(`${s.label}\n  A ${a.map(fmt).join(' ')}\n  B ${b.map(fmt).join(' ')}\n  median A ${fmt(median(a))}, B ${fmt(median(b))}: ${verdict(ratio, s.higherIsBetter)}`);
    // A count only grows with work that happened to fall in its slice (a periodic credential check, a flush): the least is the steadiest.
    if (s.unit === 'instructions') console.log(`  least A ${fmt(Math.min(...a))}, B ${fmt(Math.min(...b))}: ${verdict(Math.min(...b) / Math.min(...a), false)}`);
  }
} finally {
  await Promise.allSettled(regs.map((r) => r.stop()));
  agent.destroy();
  for (const dir of trees) removeWorktree(dir);
  if (callgrindDir) rmSync(callgrindDir, { recursive: true, force: true });
}
