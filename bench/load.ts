/**
 * Closed-loop load at a fixed number of keep-alive connections: `wrk` when installed (one
 * thread, so it leaves the other core to the server), else a Node generator: over node:http for
 * GET, over raw sockets for HEAD (see runHead).
 */
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
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

/** `headers` with the registry's credentials, as every request of a load carries them. */
const withCredentials = (registry: Registry, headers: Record<string, string>): Record<string, string> => ({
  ...headers,
  ...(registry.authorization ? { authorization: registry.authorization } : {}),
});

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
  for (const [k, v] of Object.entries(withCredentials(registry, headers))) args.push('-H', `${k}: ${v}`);
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

/**
 * Latency quantiles as wrk reports them: corrected for coordinated omission (its stats_correct).
 * A closed loop sends a connection's next request only once the last is answered, so a stall
 * delays the requests that would have been sent meanwhile without their counting it; a sample n
 * mean intervals long (the mean time between two requests of one connection) therefore adds
 * samples n - 1, n - 2, ... intervals long, down to two intervals.
 */
export function correctedQuantiles(latenciesMs: number[], meanIntervalMs: number, quantiles: number[]): number[] {
  const bucketMs = 0.001; // wrk counts microseconds
  const interval = Math.max(1, Math.round(meanIntervalMs / bucketMs));
  const counts = new Map<number, number>();
  for (const ms of latenciesMs) {
    const us = Math.round(ms / bucketMs);
    counts.set(us, (counts.get(us) ?? 0) + 1);
  }
  let total = latenciesMs.length;
  for (const [us, count] of [...counts]) {
    for (let m = us - interval; us >= 2 * interval && m > interval; m -= interval) {
      counts.set(m, (counts.get(m) ?? 0) + count);
      total += count;
    }
  }
  const sorted = [...counts].sort((a, b) => a[0] - b[0]);
  return quantiles.map((q) => {
    let seen = 0;
    for (const [us, count] of sorted) {
      seen += count;
      if (seen >= q * total) return us * bucketMs;
    }
    return NaN;
  });
}

/**
 * HEAD at `connections` raw keep-alive sockets. An answer to HEAD has no body whatever its
 * Content-Length says (RFC 9110 9.3.2), which wrk does not know: it waits for one. A head ends at
 * its blank line, so nothing past the status needs parsing, and the generator costs a small part
 * of what node:http's client does per request (about as much as the server's own answer), which
 * on two vCPUs took CPU from the server under test. Latencies as wrk reports them.
 */
async function runHead(registry: Registry, path: string, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadResult> {
  const url = new URL(path, registry.baseUrl);
  const all = { host: url.host, ...withCredentials(registry, headers) };
  const request = Buffer.from(`HEAD ${url.pathname}${url.search} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const connection = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
      let pending = '';
      let sentAt = 0;
      const send = (): void => {
        if (performance.now() >= deadline) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => {
        pending += text;
        let end: number;
        while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
          const status = Number(pending.slice(9, 12));
          pending = pending.slice(end + 4);
          latencies.push(performance.now() - sentAt);
          if (!(status >= 200 && status < 400)) errors++;
          send();
        }
      });
      socket.on('error', () => errors++);
      socket.on('close', () => {
        if (performance.now() < deadline) errors++; // the server closed it: one connection less
        resolve();
      });
    });
  await Promise.all(Array.from({ length: connections }, connection));
  const elapsed = (performance.now() - start) / 1000;
  const perConnection = latencies.length / connections;
  const [p50, p99] = correctedQuantiles(latencies, perConnection > 0 ? (elapsed * 1000) / perConnection : 0, [0.5, 0.99]);
  return { requests: latencies.length, errors, rps: latencies.length / elapsed, p50ms: p50!, p99ms: p99!, tool: 'node' };
}

async function runNode(registry: Registry, method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadResult> {
  if (method === 'HEAD') return runHead(registry, path, headers, connections, seconds);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const url = new URL(path, registry.baseUrl);
  const all = withCredentials(registry, headers);
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
