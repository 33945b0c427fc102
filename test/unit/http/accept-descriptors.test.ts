import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, get, type RequestListener, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { addAcceptDescriptors, type AcceptDescriptors } from '../../../src/http/accept-descriptors.ts';

const EXTRA = 7;

/**
 * Helper processes (node -e with the helper's script) among this process's children. Other
 * children come and go: tsx's esbuild service, when its cache is cold.
 */
function helpers(): string[] {
  const children = readdirSync('/proc/self/task').flatMap((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean));
  return children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('process.send(message, handle');
    } catch {
      return false; // exited meanwhile
    }
  });
}

describe('addAcceptDescriptors', () => {
  let server: Server | undefined;
  let extra: AcceptDescriptors | undefined;
  const sockets: Socket[] = [];
  const warnings: string[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    extra?.close();
    extra = undefined;
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    warnings.length = 0;
  });

  /** A server answering each request with its path (or `handler`), with `extraDescriptors` more descriptors. */
  async function start(extraDescriptors: number, execPath?: string, handler?: RequestListener): Promise<number> {
    server = createServer(handler ?? ((req, res) => res.end(`${req.url}`)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    extra = await addAcceptDescriptors(server, extraDescriptors, (m) => warnings.push(m), execPath);
    return (server.address() as AddressInfo).port;
  }

  async function getBody(port: number, path: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
  }

  /**
   * Opens `n` connections while the event loop is blocked, so they all wait in the socket's
   * queue, then counts how many the server accepts in one turn of the loop (between two
   * setImmediate callbacks: one poll phase).
   */
  async function acceptedInOneTurn(port: number, n: number): Promise<number> {
    let accepted = 0;
    server!.on('connection', () => accepted++);
    for (let i = 0; i < n; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
    }
    // connect() was issued for each; loopback handshakes complete in the kernel meanwhile.
    const until = Date.now() + 100;
    while (Date.now() < until) {
      /* block the loop */
    }
    return new Promise((resolve) => {
      setImmediate(() => {
        const before = accepted;
        setImmediate(() => resolve(accepted - before));
      });
    });
  }

  it('opens the descriptors asked for, and its helper process is gone afterwards', async () => {
    await start(EXTRA);
    assert.equal(extra!.count, EXTRA);
    assert.deepEqual(warnings, []);
    assert.deepEqual(helpers(), []);
  });

  it('libuv alone accepts one pending connection per turn of the event loop (the premise)', async () => {
    const port = await start(0);
    assert.equal(extra!.count, 0);
    assert.equal(await acceptedInOneTurn(port, 24), 1);
  });

  it('with extra descriptors, a turn accepts one pending connection per descriptor', async () => {
    const port = await start(EXTRA);
    assert.equal(await acceptedInOneTurn(port, 24), EXTRA + 1);
  });

  it('every connection, whichever descriptor accepted it, is served by the HTTP server', async () => {
    const port = await start(EXTRA);
    const bodies = await Promise.all(Array.from({ length: 48 }, (_, i) => getBody(port, `/r${i}`)));
    assert.deepEqual(bodies, Array.from({ length: 48 }, (_, i) => `/r${i}`));
  });

  it('connections the extra descriptors accepted count as the server\'s own: its close waits for their requests', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let arrived = 0;
    const port = await start(EXTRA, undefined, (req, res) => {
      arrived++;
      void released.then(() => res.end(`${req.url}`));
    });
    // A burst: most of it is accepted by the extra descriptors (see the test above).
    await acceptedInOneTurn(port, 24);
    const answers = sockets.map((socket, i) => {
      socket.write(`GET /r${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => (text += d));
      return once(socket, 'end').then(() => text.endsWith(`/r${i}`));
    });
    while (arrived < 24) await new Promise((resolve) => setImmediate(resolve));
    const connections = await new Promise<number>((resolve, reject) => server!.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    assert.equal(connections, 24);

    extra!.close();
    let closed = false;
    const serverClosed = new Promise<void>((resolve) => server!.close(() => resolve()));
    void serverClosed.then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(closed, false, 'the server closed with requests in flight');
    release();
    assert.deepEqual(await Promise.all(answers), Array(24).fill(true));
    await serverClosed;
    server = undefined;
  });

  it('after close() and the server closing, the port no longer accepts connections', async () => {
    const port = await start(EXTRA);
    extra!.close();
    assert.equal(extra!.count, 0);
    await new Promise((resolve) => server!.close(resolve));
    server = undefined;
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    const outcome = await Promise.race([
      once(socket, 'error').then(([err]) => (err as NodeJS.ErrnoException).code),
      once(socket, 'connect').then(() => 'connected'),
    ]);
    assert.equal(outcome, 'ECONNREFUSED');
  });

  it('when the helper cannot run, the server goes on with its own descriptor and says why', async () => {
    const port = await start(EXTRA, '/nonexistent/node');
    assert.equal(extra!.count, 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /accepting on 0 extra descriptors instead of 7: the helper process failed: .*ENOENT/);
    assert.equal(await getBody(port, '/still'), '/still');
  });

  it('when the helper exits without answering, the server goes on and says so', async () => {
    const port = await start(EXTRA, '/bin/true');
    assert.equal(extra!.count, 0);
    assert.deepEqual(warnings, ['accepting on 0 extra descriptors instead of 7: the helper process exited (0) after 0 of 7']);
    assert.equal(await getBody(port, '/still'), '/still');
  });

  it('a server that is not listening gets none, and no helper is started', async () => {
    server = createServer();
    extra = await addAcceptDescriptors(server, EXTRA, (m) => warnings.push(m));
    assert.equal(extra.count, 0);
    assert.deepEqual(helpers(), []);
    server = undefined;
  });
});
