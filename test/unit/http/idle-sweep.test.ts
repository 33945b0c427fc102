import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sweepIdleConnectionsSafely } from '../../../src/http/idle-sweep.ts';

const BODY_BYTES = 64 * 1024 * 1024;

describe('sweepIdleConnectionsSafely', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  /** A server answering every request with `BODY_BYTES` in one end() call; `ended` resolves with each response. */
  async function start(): Promise<{ port: number; ended: Promise<ServerResponse> }> {
    let resolveEnded!: (res: ServerResponse) => void;
    const ended = new Promise<ServerResponse>((resolve) => (resolveEnded = resolve));
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': BODY_BYTES });
      res.end(Buffer.alloc(BODY_BYTES, 7));
      resolveEnded(res);
    });
    sweepIdleConnectionsSafely(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, ended };
  }

  /** Sends one keep-alive GET and stops reading at once; `drain()` reads until the server closes. */
  async function pausedClient(port: number): Promise<{ socket: Socket; drain: () => Promise<number> }> {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    await once(socket, 'connect');
    socket.pause();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    return {
      socket,
      drain: async () => {
        let bytes = 0;
        socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
        socket.resume();
        await Promise.race([once(socket, 'close'), sleep(20_000, undefined, { ref: false })]);
        return bytes;
      },
    };
  }

  it('a sweep while an ended answer is still unflushed leaves it whole, then closes its connection', async () => {
    const { port, ended } = await start();
    const client = await pausedClient(port);
    const res = await ended;
    await sleep(50);
    assert.ok(res.writableEnded && !res.writableFinished, 'the answer has ended but not flushed (the client reads nothing)');

    const closed = new Promise((resolve) => server!.close(resolve)); // sweeps idle connections itself
    server!.closeIdleConnections();
    await sleep(100);
    const bytes = await client.drain();
    assert.ok(bytes > BODY_BYTES, `the whole answer arrived (${bytes} bytes with its head)`);
    assert.equal(bytes - BODY_BYTES, Buffer.byteLength(headOf(res)), 'exactly the head and the body');
    // The put-off sweep ran once the answer flushed: the keep-alive connection is closed and close() completes.
    await Promise.race([closed, sleep(5_000, undefined, { ref: false }).then(() => assert.fail('server.close() did not complete'))]);
  });

  it('sweeps a connection at once when its answer has flushed', async () => {
    const { port, ended } = await start();
    const client = await pausedClient(port);
    const res = await ended;
    const closed = once(client.socket, 'close');
    client.socket.resume();
    while (!res.writableFinished) await sleep(10);
    server!.closeIdleConnections();
    await Promise.race([closed, sleep(5_000, undefined, { ref: false }).then(() => assert.fail('the idle connection was not closed'))]);
  });
});

/** The head Node sent for `res` (status line and headers, blank line included). */
function headOf(res: ServerResponse): string {
  return (res as unknown as { _header: string })._header;
}
