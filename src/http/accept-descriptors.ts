import { spawn } from 'node:child_process';
import net from 'node:net';

/**
 * More descriptors for a listening socket, so a burst of new connections is accepted in a few
 * event-loop turns instead of one turn per connection.
 *
 * libuv accepts one connection per listening descriptor per event-loop turn (since libuv 1.45,
 * libuv/libuv#3696), and a turn also serves every request that is ready on the connections
 * already open. When 64 clients connect at once to a busy server, the last is accepted 63 turns
 * later: here its first answer came 300-360 ms after its request (`tcpdump` on loopback, GET
 * manifest, `wrk -c64` on a fresh server), while every later request waited a few milliseconds.
 * wrk then counts the wait many times over (it corrects for coordinated omission), so one such
 * burst decided the p99 of a whole 10 s load.
 *
 * Each extra descriptor refers to the same socket and the same queue of pending connections;
 * libuv polls each one, so every turn accepts one connection per descriptor. Node duplicates a
 * descriptor only when it passes a handle over an IPC channel, so a short-lived helper process
 * receives the listening handle and sends it straight back, once per descriptor. The handle
 * travels raw (as a TCP handle, not as a server): the helper never listens on it, so it never
 * accepts a connection itself. Each returned descriptor is served by a plain net.Server with the
 * HTTP server's socket options, which hands every connection to the HTTP server ('connection',
 * as Node documents for connections from elsewhere): the same parser, timeouts, tracking for
 * shutdown and request handler as the server's own, and counted as the server's own, so its
 * close waits for them.
 */

/** What the extra descriptors need of the server: its socket options (net.Server keeps them as fields). */
interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** Seconds: net.Server stores the option (milliseconds) divided by 1000. */
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  _handle?: object | null;
}

/** A net.Server's count of its open connections. */
interface Counted {
  _connections: number;
}

/**
 * Makes `socket`, accepted by `extra`, count as one of `server`'s own connections. net.Server
 * counts a connection in the server that accepted it (the socket takes it off that count when it
 * closes), and closing a server waits for its count to reach zero: without this, a shutdown
 * would see the HTTP server drained while requests on these connections were still running,
 * and the process would exit under them.
 */
function adopt(server: net.Server, extra: net.Server, socket: net.Socket): void {
  (extra as unknown as Counted)._connections--;
  (server as unknown as Counted)._connections++;
  (socket as unknown as { _server: net.Server })._server = server;
}

/**
 * The helper: sends every handle it receives straight back. It exits once the channel closes
 * (it has nothing else to do), and addAcceptDescriptors waits for that: no copy stays open in it.
 */
const HELPER = "process.on('message', (message, handle) => process.send(message, handle));";

/** How long the helper may take to return all descriptors; past it, the server goes on with those it has. */
const HELPER_TIMEOUT_MS = 5_000;

export interface AcceptDescriptors {
  /** How many extra descriptors accept connections. */
  readonly count: number;
  /** Stops accepting on the extra descriptors (the server's own closes with the server). */
  close(): void;
}

/**
 * Opens up to `count` more descriptors of `server`'s listening socket (see above). Never fails:
 * when the helper cannot be started or does not answer, the server accepts on the descriptors it
 * has, as before; `warn` says why. `execPath` (tests) is the node binary the helper runs on.
 */
export async function addAcceptDescriptors(
  server: net.Server,
  count: number,
  warn: (message: string) => void,
  execPath = process.execPath,
): Promise<AcceptDescriptors> {
  const options = server as unknown as ServerOptions;
  const servers: net.Server[] = [];
  const result: AcceptDescriptors = {
    get count() {
      return servers.length;
    },
    close() {
      for (const extra of servers.splice(0)) extra.close();
    },
  };
  const handle = options._handle;
  if (count < 1 || !handle || !server.listening) return result;

  const serve = (duplicate: object): boolean => {
    if (servers.length >= count || !server.listening) return false;
    const extra = net.createServer({
      allowHalfOpen: options.allowHalfOpen ?? false,
      pauseOnConnect: options.pauseOnConnect ?? false,
      noDelay: options.noDelay ?? false,
      keepAlive: options.keepAlive ?? false,
      keepAliveInitialDelay: (options.keepAliveInitialDelay ?? 0) * 1000,
      ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
    });
    extra.on('connection', (socket) => {
      adopt(server, extra, socket);
      server.emit('connection', socket);
    });
    // An accept that fails (EMFILE, ECONNABORTED) is reported here; the server's own descriptor
    // goes on, and so does this one.
    extra.on('error', (err) => warn(`accepting a connection failed: ${err.message}`));
    extra.listen(duplicate);
    servers.push(extra);
    return true;
  };

  const problem = await duplicate(handle, count, execPath, serve).catch((err: Error) => `the helper process failed: ${err.message}`);
  if (problem) warn(`accepting on ${servers.length} extra descriptors instead of ${count}: ${problem}`);
  return result;
}

/**
 * Sends `handle` to the helper `count` times and passes each copy it sends back to `take`
 * (false: not wanted, closed here). Resolves once the helper has exited, so it holds no copy:
 * with nothing, or with what went wrong.
 */
function duplicate(handle: object, count: number, execPath: string, take: (copy: object) => boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    let received = 0;
    let problem: string | undefined;
    const child = spawn(execPath, ['-e', HELPER], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: {} });
    /** Stops asking: the helper exits once the channel closes, or is killed when something went wrong. */
    const stop = (reason?: string): void => {
      problem ??= reason;
      if (child.connected) child.disconnect();
      if (reason && child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`the helper process did not answer within ${HELPER_TIMEOUT_MS} ms`), HELPER_TIMEOUT_MS);
    const finish = (): void => {
      clearTimeout(timer);
      resolve(problem);
    };
    child.on('message', (_message, copy?: object) => {
      if (!copy) return;
      received++;
      if (!take(copy)) (copy as { close(): void }).close();
      if (received >= count) stop();
    });
    child.on('error', (err) => {
      stop(`the helper process failed: ${err.message}`);
      // The process never started: there is no exit to wait for.
      if (child.pid === undefined) finish();
    });
    child.on('exit', (code, signal) => {
      if (received < count) stop(`the helper process exited (${signal ?? code}) after ${received} of ${count}`);
      finish();
    });
    // Without a channel (spawn failed for want of descriptors) the 'error' above follows.
    // The raw handle, not the server (typed as one only for send's signature): see above.
    if (child.connected) for (let i = 0; i < count; i++) child.send(i, handle as net.Server);
  });
}
