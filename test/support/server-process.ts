import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: where `src/main.ts` and `node_modules/tsx` are. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const E2E_ADMIN_PASSWORD = 'e2e-admin-password';

const DEFAULT_START_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_TIMEOUT_MS = 15_000;
/** How much of each output stream is kept for error messages and log inspection. */
const OUTPUT_LIMIT = 4 * 1024 * 1024;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Extra environment for the child; `undefined` removes a variable. BERTH_* of this process are never inherited. */
  env?: Record<string, string | undefined>;
  /** Arguments after `src/main.ts`; default `['serve']`. */
  args?: string[];
  /** Node arguments naming what runs (default SOURCES, the sources through tsx; a build: its main.js). */
  entry?: string[];
}

/** The sources through tsx: what the tests run unless told otherwise. */
export const SOURCES = ['--import', 'tsx', 'src/main.ts'];

/** A Berth child process with its output collected (bounded) and a promise of its exit. */
export interface BerthChild {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once it is known. */
  exitStatus(): ExitStatus | undefined;
  /**
   * Resolves with the first stdout JSON log line that `match` accepts; rejects when the process
   * exits first or after `timeoutMs`, with the child's stderr in the message.
   */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>;
}

/** Children started by this module and still running: killed (by PID) if the test process exits first. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
}

function appendBounded(current: string, chunk: string): string {
  const next = current + chunk;
  return next.length > OUTPUT_LIMIT ? next.slice(next.length - OUTPUT_LIMIT) : next;
}

function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('BERTH_') && !key.startsWith('NODE_TEST')) env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Parses the JSON log lines of a chunk of stdout; other lines are skipped. */
export function parseLogLines(text: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as unknown;
      if (typeof parsed === 'object' && parsed !== null) lines.push(parsed as Record<string, unknown>);
    } catch {
      // a partial or non-JSON line
    }
  }
  return lines;
}

/** Starts `node <entry> <args>` (default `node --import tsx src/main.ts serve`) in the repository root. */
export function spawnBerth(options: SpawnOptions = {}): BerthChild {
  installExitHook();
  const child = spawn(process.execPath, [...(options.entry ?? SOURCES), ...(options.args ?? ['serve'])], {
    cwd: REPO_ROOT,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn the Berth server process');
  running.add(child);
  let out = '';
  /** Characters of stdout dropped from the front to keep it bounded. */
  let outDropped = 0;
  let err = '';
  let status: ExitStatus | undefined;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const next = appendBounded(out, chunk);
    outDropped += out.length + chunk.length - next.length;
    out = next;
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err = appendBounded(err, chunk);
  });
  const exited = new Promise<ExitStatus>((resolveExit) => {
    // 'close' fires after the exit and after stdio is drained: all output is collected by then.
    child.once('close', (code, signal) => {
      status = { code, signal };
      running.delete(child);
      resolveExit(status);
      notify();
    });
  });

  const pid = child.pid;
  return {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    exitStatus: () => status,
    waitForLog(match, timeoutMs, what) {
      return new Promise((resolveLine, reject) => {
        let scanned = 0; // absolute offset in stdout, counting dropped characters
        const check = () => {
          // Only complete lines; remember how far we got so each line is parsed once.
          const end = outDropped + out.lastIndexOf('\n') + 1;
          if (end > scanned) {
            for (const line of parseLogLines(out.slice(Math.max(0, scanned - outDropped), end - outDropped))) {
              if (match(line)) {
                done();
                resolveLine(line);
                return;
              }
            }
            scanned = end;
          }
          if (status) {
            done();
            reject(new Error(`Berth (pid ${pid}) exited (code ${status.code}, signal ${status.signal}) before ${what}; stderr:\n${err.slice(-4000)}\nstdout tail:\n${out.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from Berth (pid ${pid}); stderr:\n${err.slice(-4000)}\nstdout tail:\n${out.slice(-2000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

export interface ServerProcessOptions {
  /** Admin password passed as BERTH_ADMIN_PASSWORD; `null` to start without one. Default E2E_ADMIN_PASSWORD. */
  adminPassword?: string | null;
  /** Reuse a data dir (e.g. to restart on the same data); default a fresh temp dir. */
  dataDir?: string;
  /** Extra environment (BERTH_LOG_LEVEL defaults to `info`: the listening line is an info line). */
  env?: Record<string, string | undefined>;
  /** Arguments after `src/main.ts`; default `['serve']`. */
  args?: string[];
  /** What runs (see SpawnOptions.entry). */
  entry?: string[];
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface ServerProcess {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  /** `127.0.0.1:PORT`, as image references need it. */
  readonly host: string;
  readonly dataDir: string;
  readonly pid: number;
  /** The admin password given at start (undefined when started without one). */
  readonly adminPassword: string | undefined;
  /** The parsed "berth listening on ..." log line. */
  readonly listeningLine: Record<string, unknown>;
  readonly process: BerthChild;
  /** Parsed JSON log lines written so far. */
  logs(): Record<string, unknown>[];
  /**
   * SIGTERM to this server's PID, then waits for it to exit; SIGKILL after `stopTimeoutMs`.
   * Idempotent. Resolves with the exit status.
   */
  stop(): Promise<ExitStatus>;
  /** stop() and remove the data dir (only when this helper created it). */
  dispose(): Promise<void>;
}

/**
 * Starts Berth as a child process on a free loopback port (the OS picks it: `127.0.0.1:0`, so
 * there is no race between choosing and binding) with a fresh temp data dir, and waits for the
 * "berth listening on" line. Rejects with the child's stderr when it exits or times out first.
 */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'berth-e2e-')));
  const adminPassword = options.adminPassword === null ? undefined : (options.adminPassword ?? E2E_ADMIN_PASSWORD);
  const proc = spawnBerth({
    ...(options.args ? { args: options.args } : {}),
    ...(options.entry ? { entry: options.entry } : {}),
    env: {
      BERTH_LISTEN: '127.0.0.1:0',
      BERTH_DATA_DIR: dataDir,
      BERTH_LOG_LEVEL: 'info',
      BERTH_ADMIN_PASSWORD: adminPassword,
      ...options.env,
    },
  });
  const stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  let stopping: Promise<ExitStatus> | undefined;
  const stop = (): Promise<ExitStatus> => {
    stopping ??= (async () => {
      const known = proc.exitStatus();
      if (known) return known;
      // Only ever this child, by its own PID.
      proc.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), stopTimeoutMs);
      });
      const first = await Promise.race([proc.exited, forced]);
      clearTimeout(timer);
      if (first !== 'timeout') return first;
      if (proc.exitStatus() === undefined) proc.child.kill('SIGKILL');
      return proc.exited;
    })();
    return stopping;
  };

  let line: Record<string, unknown>;
  try {
    line = await proc.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('berth listening on '),
      options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      'the "berth listening on" line',
    );
  } catch (err) {
    await stop();
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const address = typeof line.address === 'string' ? line.address : /listening on (\S+?),? /.exec(String(line.msg))?.[1];
  const parsed = address ? new URL(address) : undefined;
  if (!parsed) {
    await stop();
    throw new Error(`cannot find the address in the listening line: ${JSON.stringify(line)}`);
  }
  const url = `${parsed.protocol}//${parsed.host}`;
  return {
    url,
    host: parsed.host,
    dataDir,
    pid: proc.pid,
    adminPassword,
    listeningLine: line,
    process: proc,
    logs: () => parseLogLines(proc.stdout()),
    stop,
    async dispose() {
      await stop();
      if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
