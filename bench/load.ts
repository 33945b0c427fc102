/**
 * Closed-loop load at a fixed number of keep-alive connections: `wrk` when installed (one
 * thread, so it leaves the other core to the server), else a Node generator over node:http.
 */
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Registry } from './servers.ts';

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  tool: 'wrk' | 'node';
}

let wrkAvailable: boolean | undefined;
function hasWrk(): boolean {
  if (wrkAvailable === undefined) {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'ignore' });
      wrkAvailable = true;
    } catch (err) {
      // wrk --version exits 1 after printing its version
      wrkAvailable = (err as { status?: number }).status === 1;
    }
  }
  return wrkAvailable;
}

/** Parses wrk's latency figures ("1.23ms", "850.00us", "1.02s") into milliseconds. */
function wrkMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

async function runWrk(registry: Registry, method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadResult> {
  const script = join(tmpdir(), `berth-bench-wrk-${process.pid}.lua`);
  // HEAD answers carry Content-Length without a body; wrk needs to know the request was HEAD.
  writeFileSync(script, `wrk.method = "${method}"\n`);
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-s', script];
  const all = { ...headers, ...(registry.authorization ? { authorization: registry.authorization } : {}) };
  for (const [k, v] of Object.entries(all)) args.push('-H', `${k}: ${v}`);
  args.push(`${registry.baseUrl}${path}`);
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('wrk', args, { timeout: (seconds + 30) * 1000 }));
  } finally {
    rmSync(script, { force: true });
  }
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const p50 = wrkMs(/\n\s+50%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p99 = wrkMs(/\n\s+99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  return { requests, errors, rps, p50ms: p50, p99ms: p99, tool: 'wrk' };
}

async function runNode(registry: Registry, method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const url = new URL(path, registry.baseUrl);
  const all = { ...headers, ...(registry.authorization ? { authorization: registry.authorization } : {}) };
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.request(url, { method, headers: all, agent }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          latencies.push(performance.now() - t0);
          if ((res.statusCode ?? 0) >= 400) errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { requests: latencies.length, errors, rps: latencies.length / elapsed, p50ms: q(0.5), p99ms: q(0.99), tool: 'node' };
}

/** `connections` keep-alive connections sending `method path` back to back for `seconds`. */
export function load(registry: Registry, method: 'GET' | 'HEAD', path: string, opts: { headers?: Record<string, string>; connections: number; seconds: number; tool?: 'wrk' | 'node' }): Promise<LoadResult> {
  const env = process.env.BENCH_LOAD_TOOL;
  const tool = opts.tool ?? (env === 'wrk' || env === 'node' ? env : hasWrk() ? 'wrk' : 'node');
  return (tool === 'wrk' ? runWrk : runNode)(registry, method, path, opts.headers ?? {}, opts.connections, opts.seconds);
}
