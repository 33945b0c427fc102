/**
 * Starting and stopping the registries under test, each as a child process on a free loopback
 * port with a fresh temporary data directory, and sampling their memory and CPU from /proc.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundle } from '../scripts/bundle.ts';
import { startSettings } from '../scripts/start-settings.ts';

export interface Registry {
  /** `berth` or `reference`. */
  readonly kind: 'berth' | 'reference';
  readonly baseUrl: string;
  readonly pid: number;
  /** Value of the Authorization header for the pushing user; undefined when the server runs without auth. */
  readonly authorization: string | undefined;
  stop(): Promise<void>;
}

export const BENCH_USER = 'admin';
export const BENCH_PASSWORD = 'bench-password-1234';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A port nobody listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Waits until `child` exits (or `ms` pass); true when it exited. */
function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const timer = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      res(true);
    });
  });
}

/** SIGTERM by PID, then SIGKILL by PID when it has not gone after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  process.kill(child.pid, 'SIGTERM');
  if (!(await exited(child, graceMs))) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await exited(child, 5_000);
  }
}

async function waitHttp(url: string, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before it was ready:\n${output().slice(-2000)}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`server at ${url} not ready after ${timeoutMs} ms:\n${output().slice(-2000)}`);
    await sleep(100);
  }
}

/**
 * A just-spawned registry as a Registry once it answers on /v2/: its output is kept (the first
 * 100 kB) for the error when it does not come up; stopping it, or failing to start, stops the
 * process by PID and removes `dir`.
 */
async function serving(
  child: ChildProcess,
  o: { kind: Registry['kind']; port: number; dir: string; readyMs: number; stopGraceMs: number; authorization: string | undefined },
): Promise<Registry> {
  let output = '';
  const keep = (d: Buffer) => {
    if (output.length < 100_000) output += d.toString();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const baseUrl = `http://127.0.0.1:${o.port}`;
  try {
    await waitHttp(`${baseUrl}/v2/`, child, o.readyMs, () => output);
  } catch (err) {
    await stopChild(child);
    await rm(o.dir, { recursive: true, force: true });
    throw err;
  }
  return {
    kind: o.kind,
    baseUrl,
    pid: child.pid!,
    authorization: o.authorization,
    async stop() {
      await stopChild(child, o.stopGraceMs);
      await rm(o.dir, { recursive: true, force: true });
    },
  };
}

export interface BerthOptions {
  /**
   * `bundle` (default): the production build (scripts/bundle.ts, what `npm start` runs) of src/ into
   * .tmp/bench-bundle, built fresh for each benchmark; `dist`: dist/main.js as `npm run build` left
   * it; `tsx`: the sources through tsx (a loader thread in the measured RSS).
   */
  mode: 'bundle' | 'dist' | 'tsx';
  /** Extra node flags, e.g. `--cpu-prof --cpu-prof-dir=...`. */
  nodeFlags: string[];
  /** Extra environment variables for the server process, over those of `npm start`. */
  env?: Record<string, string>;
  logLevel: string;
  /** The checkout whose src/ runs (default: this one); bench/ab.ts passes a worktree of another revision. */
  root?: string;
  /** A command node runs under, e.g. `['valgrind', '--tool=callgrind', ...]`: its PID is the server's. */
  wrapper?: string[];
}

/** How `npm start` runs node (its flags and environment; docs/operations.md says why), as this checkout has it. */
const NPM_START = startSettings(resolve(import.meta.dirname, '..'));

const bundled = new Map<string, string>();
/** Builds `root`'s production bundle (scripts/bundle.ts) into its .tmp/bench-bundle once per benchmark process. */
async function bundleBerth(root: string): Promise<string> {
  const done = bundled.get(root);
  if (done) return done;
  const entry = await bundle(root, join(root, '.tmp', 'bench-bundle'));
  bundled.set(root, entry);
  return entry;
}

/** Berth, embedded (SQLite + fs), with a fresh data dir and the admin password set. */
export async function startBerth(opts: BerthOptions): Promise<Registry> {
  const root = opts.root ?? resolve(import.meta.dirname, '..');
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  const port = await freePort();
  const entry =
    opts.mode === 'dist' ? [join(root, 'dist/main.js')] : opts.mode === 'tsx' ? ['--import', 'tsx', join(root, 'src/main.ts')] : [await bundleBerth(root)];
  const nodeArgs = [...NPM_START.nodeFlags, ...opts.nodeFlags, ...entry, 'serve'];
  const [command, ...args] = opts.wrapper?.length ? [...opts.wrapper, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs];
  const child = spawn(command!, args, {
    cwd: root,
    env: {
      ...process.env,
      ...NPM_START.env,
      BERTH_LISTEN: `127.0.0.1:${port}`,
      BERTH_DATA_DIR: dataDir,
      BERTH_ADMIN_PASSWORD: BENCH_PASSWORD,
      BERTH_LOG_LEVEL: opts.logLevel,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Under valgrind, start-up (the admin's password hash above all) takes many times as long.
  const readyMs = opts.wrapper?.length ? 300_000 : 60_000;
  return serving(child, { kind: 'berth', port, dir: dataDir, readyMs, stopGraceMs: 30_000, authorization: basic(BENCH_USER, BENCH_PASSWORD) });
}

const REFERENCE_BINARY = '/usr/bin/docker-registry';

/** Installs Debian's `docker-registry` (distribution 2.8.2) when it is missing. */
export function ensureReferenceInstalled(): void {
  if (existsSync(REFERENCE_BINARY)) return;
  console.error('installing docker-registry with apt-get ...');
  execFileSync('apt-get', ['install', '-y', 'docker-registry'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  // The package enables a system service on :5000; the benchmark never uses it.
}

/**
 * The reference registry on a free loopback port with a temporary filesystem config. With `auth`,
 * the same user and password as Berth through a bcrypt htpasswd file (needs `htpasswd`, from
 * apache2-utils); distribution then checks bcrypt on every request, as it does in production.
 */
export async function startReference(auth: boolean): Promise<Registry> {
  ensureReferenceInstalled();
  const dir = await mkdtemp(join(tmpdir(), 'reference-bench-'));
  const port = await freePort();
  let authConfig = '';
  if (auth) {
    const htpasswd = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', htpasswd, BENCH_USER, BENCH_PASSWORD], { stdio: 'ignore' });
    authConfig = `auth:\n  htpasswd:\n    realm: bench\n    path: ${htpasswd}\n`;
  }
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:${port}
${authConfig}`,
  );
  const child = spawn(REFERENCE_BINARY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  return serving(child, { kind: 'reference', port, dir, readyMs: 30_000, stopGraceMs: 10_000, authorization: auth ? basic(BENCH_USER, BENCH_PASSWORD) : undefined });
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** User and system CPU seconds of `pid` so far (NaN when it cannot be read). */
export function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the comm field: state is index 0, utime 11, stime 12.
    return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
  } catch {
    return { user: NaN, system: NaN };
  }
}

/** user + system CPU seconds of `pid` so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** Resident set size of `pid` in MiB. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; reports the peak and CPU seconds used meanwhile. */
export function sampleProcess(pid: number, everyMs = 20): { stop(): { peakRssMiB: number; cpuSeconds: number } } {
  const cpu0 = cpuSeconds(pid);
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    const rss = rssMiB(pid);
    if (rss > peak) peak = rss;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const rss = rssMiB(pid);
      if (rss > peak) peak = rss;
      return { peakRssMiB: peak, cpuSeconds: cpuSeconds(pid) - cpu0 };
    },
  };
}
