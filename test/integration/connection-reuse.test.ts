/**
 * Keep-alive connections after a request whose body was refused: the next request a client sends
 * on the same connection is answered, or the server closes the connection after answering with
 * `Connection: close` (the client then retries on a new one). Never a hang, never a body drained
 * without bound, and requests whose body was received in full keep their connection.
 * Raw sockets (node:net), so the test controls exactly which connection carries what.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';
import { blob, OCI_MANIFEST, relative, uniqueName } from '../support/oci-fixtures.ts';
import { head } from '../support/raw-http.ts';
import { pump } from '../../src/storage/pump.ts';
import { LINGER_BYTES } from '../../src/http/connection-reuse.ts';

/** A response read off the connection: its status, headers (lower-case names) and body. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Exchange {
  /** The answer to the first request; undefined when none came. */
  first: Answer | undefined;
  /** The answer to the request sent next on the same connection, when one came. */
  second: Answer | undefined;
  /** The server closed the connection (before the second answer, if any). */
  closed: boolean;
  /** Neither the second answer nor a close came in time. */
  hung: boolean;
  /** The whole first body was written before the client saw the connection end. */
  bodySent: boolean;
}

interface ExchangeOptions {
  /** Body bytes per write, and the pause between writes (a slow uploader). */
  chunk?: number;
  delayMs?: number;
  /** How long the client waits for the second answer (or a close) once it could send it. */
  patienceMs?: number;
}

/** Parses one response at the start of `buf` (Content-Length framed, as all of Berth's are). */
function parseAnswer(buf: Buffer): { answer: Answer; length: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = end + 4 + Number(headers['content-length'] ?? 0);
  if (buf.length < length) return undefined;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]);
  return { answer: { status, headers, body: buf.subarray(end + 4, length).toString() }, length };
}

/**
 * What a keep-alive HTTP client does: writes a request head and its body (in `chunk`s, `delayMs`
 * apart), reads the answer, finishes writing the body (a connection can carry a next request only
 * after the whole body), then sends `next` on the same connection and waits for its answer.
 */
function exchange(baseUrl: string, firstHead: string | Buffer, body: Buffer, next: string, options: ExchangeOptions = {}): Promise<Exchange> {
  const { chunk = 64 * 1024, delayMs = 2, patienceMs = 5_000 } = options;
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const result: Exchange = { first: undefined, second: undefined, closed: false, hung: false, bodySent: false };
    let received = Buffer.alloc(0);
    let nextSent = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const socket: Socket = connect({ host: hostname, port: Number(port) });
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // The clock starts once the first answer is in: from then on the client is waiting on the server.
    const startClock = (): void => {
      timer ??= setTimeout(() => {
        result.hung = true;
        settle();
      }, patienceMs);
    };
    const sendNext = (): void => {
      if (nextSent || !result.first || !result.bodySent || socket.destroyed) return;
      nextSent = true;
      socket.write(next);
    };
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      for (let parsed = parseAnswer(received); parsed && !settled; parsed = parseAnswer(received)) {
        received = received.subarray(parsed.length);
        if (!result.first) {
          result.first = parsed.answer;
          startClock();
          sendNext();
        } else {
          result.second = parsed.answer;
          settle();
        }
      }
    });
    socket.on('error', () => undefined); // EPIPE/ECONNRESET when the server closes mid-body: 'close' follows
    socket.on('close', () => {
      result.closed = true;
      settle();
    });
    // No answer at all within 30 s is a hang too.
    setTimeout(startClock, 30_000).unref();
    socket.on('connect', () => {
      void (async () => {
        socket.write(firstHead);
        for (let i = 0; i < body.length; i += chunk) {
          if (settled || socket.destroyed) return;
          if (!socket.write(body.subarray(i, i + chunk))) {
            // The server stopped reading: wait for it, or for the end of the client's patience.
            await new Promise((r) => {
              socket.once('drain', r);
              socket.once('close', r);
            });
          }
          if (delayMs > 0) await sleep(delayMs);
        }
        if (settled || socket.destroyed) return;
        result.bodySent = true;
        sendNext();
      })();
    });
  });
}

/** The first answer came with `status`, and the connection then either answered `next` or was closed as announced. */
function assertNoHang(x: Exchange, status: number, what: string): void {
  assert.equal(x.first?.status, status, `${what}: first answer ${JSON.stringify(x.first)}`);
  assert.ok(!x.hung, `${what}: the next request on the connection got no answer and the connection stayed open (hang)`);
  if (x.second === undefined) {
    assert.ok(x.closed, `${what}: no second answer`);
    assert.equal(x.first?.headers.connection, 'close', `${what}: the server closed the connection without announcing it`);
  } else {
    assert.equal(x.second.status, 200, `${what}: second answer ${JSON.stringify(x.second)}`);
  }
}

/** The first answer came with `status` and the same connection answered the next request. */
function assertKeptAlive(x: Exchange, status: number, what: string): void {
  assert.equal(x.first?.status, status, `${what}: first answer ${JSON.stringify(x.first)}`);
  assert.notEqual(x.first?.headers.connection, 'close', `${what}: the connection was closed though the whole body had arrived`);
  assert.ok(!x.hung, `${what}: the next request got no answer (hang)`);
  assert.equal(x.second?.status, 200, `${what}: the next request on the same connection: ${JSON.stringify(x)}`);
}

/** The server answered `status` and closed the connection instead of reading the rest of the body. */
function assertClosedEarly(x: Exchange, status: number, what: string): void {
  assert.equal(x.first?.status, status, `${what}: first answer ${JSON.stringify(x.first)}`);
  assert.equal(x.first?.headers.connection, 'close', `${what}: Connection: close`);
  assert.ok(!x.hung, `${what}: hang`);
  assert.ok(x.closed && x.second === undefined, `${what}: the server closed the connection`);
}

describe('connection reuse after a refused request body', () => {
  let server: TestServer;
  const name = uniqueName('reuse');
  const big = randomBytes(8 * 1024 * 1024);
  let auth: string;
  let ping: string;

  before(async () => {
    server = await startTestServer();
    auth = server.authorization;
    ping = head('GET', '/v2/', { host: 'x', authorization: auth });
  });
  after(() => server.close());

  const octets = (method: string, path: string, length: number, extra: Record<string, string | number> = {}) =>
    head(method, path, { host: 'x', authorization: auth, 'content-type': 'application/octet-stream', 'content-length': length, ...extra });

  async function startUpload(): Promise<string> {
    const res = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202);
    return relative(res.headers.get('location')!);
  }

  describe('an error answered before the body has arrived: no hang', () => {
    it('PATCH to an unknown upload', async () => {
      assertNoHang(await exchange(server.baseUrl, octets('PATCH', `/v2/${name}/blobs/uploads/0c0c0c0c-0000-4000-8000-000000000000`, big.length), big, ping), 404, 'unknown upload');
    });

    it('PATCH with a malformed Content-Range, and with one that does not start at the staged size', async () => {
      assertNoHang(await exchange(server.baseUrl, octets('PATCH', await startUpload(), big.length, { 'content-range': 'bytes=x' }), big, ping), 416, 'malformed');
      assertNoHang(await exchange(server.baseUrl, octets('PATCH', await startUpload(), big.length, { 'content-range': `7-${big.length + 6}` }), big, ping), 416, 'wrong start');
    });

    it('POST with an invalid digest, without credentials, and by a user who may not push', async () => {
      assertNoHang(await exchange(server.baseUrl, octets('POST', `/v2/${name}/blobs/uploads/?digest=sha256:nothex`, big.length), big, ping), 400, 'invalid digest');
      const anonymous = head('PATCH', `/v2/${name}/blobs/uploads/x`, { host: 'x', 'content-length': big.length });
      assertNoHang(await exchange(server.baseUrl, anonymous, big, ping), 401, 'anonymous');

      const created = await server.fetch('/auth/api/user/create', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'reuse-reader', name: 'reuse-reader', pwd: 'reader-password-1' }),
      });
      assert.ok(created.ok, await created.text());
      const reader = basic('reuse-reader', 'reader-password-1');
      const denied = head('POST', `/v2/${name}/blobs/uploads/?digest=${blob(big).digest}`, { host: 'x', authorization: reader, 'content-length': big.length });
      const x = await exchange(server.baseUrl, denied, big, head('GET', '/v2/', { host: 'x', authorization: reader }));
      assertNoHang(x, 403, 'denied');
    });

    it('a store failing mid-stream', async () => {
      const uploads = server.app.deps.blobs.uploads;
      const append = uploads.append;
      uploads.append = async (_id, _offset, data) => {
        let written = 0;
        const failing = new Writable({
          write(chunk: Buffer, _encoding, done) {
            written += chunk.length;
            done(written > 1024 * 1024 ? new Error('disk failure (test)') : null);
          },
        });
        await pump(data, failing);
        return written;
      };
      try {
        assertNoHang(await exchange(server.baseUrl, octets('PATCH', await startUpload(), big.length), big, ping), 500, 'store failure');
      } finally {
        uploads.append = append;
      }
    });

    it('a manifest over the size limit: declared, and chunked (answered 413, not cut off)', async () => {
      const declared = head('PUT', `/v2/${name}/manifests/big`, { host: 'x', authorization: auth, 'content-type': OCI_MANIFEST, 'content-length': big.length });
      assertNoHang(await exchange(server.baseUrl, declared, big, ping), 413, 'declared');
      const chunked = head('PUT', `/v2/${name}/manifests/big`, { host: 'x', authorization: auth, 'content-type': OCI_MANIFEST, 'transfer-encoding': 'chunked' });
      assertNoHang(await exchange(server.baseUrl, chunked, chunkedBody(big), ping), 413, 'chunked');
    });

    it('routes outside /v2 close the connection rather than keep it for a next request', async () => {
      const routes = [
        head('POST', '/no/such/route', { host: 'x', 'content-type': 'application/octet-stream', 'content-length': big.length }),
        head('POST', '/v2/auth', { host: 'x', 'content-type': 'application/octet-stream', 'content-length': big.length }),
        head('POST', '/repository/api/project/create', { host: 'x', 'content-type': 'application/octet-stream', 'content-length': big.length }),
      ];
      for (const route of routes) {
        const x = await exchange(server.baseUrl, route, big, ping);
        assertClosedEarly(x, x.first?.status ?? 0, route.split('\r\n', 1)[0]!);
        assert.ok(x.first!.status >= 400 && x.first!.status < 500, `${route.split('\r\n', 1)[0]}: ${x.first!.status}`);
      }
    });
  });

  describe('a connection closed under a body still arriving lingers: the answer is not lost to a reset', () => {
    /**
     * Writes `head` and then `size` body bytes as fast as the server takes them, without reading
     * (or until `stopAfter` bytes when the server stops taking them); then reads what came.
     */
    function sendThenRead(head: string, size: number): Promise<{ answer: Answer | undefined; sent: number; error: string | undefined }> {
      const { hostname, port } = new URL(server.baseUrl);
      return new Promise((resolve) => {
        const socket = connect({ host: hostname, port: Number(port) });
        const received: Buffer[] = [];
        let sent = 0;
        let error: string | undefined;
        socket.pause(); // nothing is read until the whole body was written
        socket.on('data', (d: Buffer) => received.push(d));
        socket.on('error', (err: NodeJS.ErrnoException) => {
          error = err.code ?? err.message;
          socket.resume();
        });
        socket.on('close', () => resolve({ answer: parseAnswer(Buffer.concat(received))?.answer, sent, error }));
        const piece = Buffer.alloc(256 * 1024, 7);
        const writeMore = (): void => {
          while (sent < size && !socket.destroyed) {
            const n = Math.min(piece.length, size - sent);
            sent += n;
            if (!socket.write(n === piece.length ? piece : piece.subarray(0, n))) {
              socket.once('drain', writeMore);
              return;
            }
          }
          socket.resume();
        };
        socket.on('connect', () => {
          socket.write(head);
          writeMore();
        });
      });
    }

    it('a client that sends its whole 32 MiB body before reading still reads the 404', async () => {
      const size = 32 * 1024 * 1024;
      const x = await sendThenRead(octets('PATCH', `/v2/${name}/blobs/uploads/0c0c0c0c-0000-4000-8000-000000000000`, size), size);
      assert.equal(x.answer?.status, 404, JSON.stringify(x));
      assert.equal(x.answer?.headers.connection, 'close');
      assert.equal(x.sent, size);
      assert.equal(x.error, undefined);
    });

    it('a client that would send for ever is cut off once LINGER_BYTES more have arrived', async () => {
      const endless = 64 * 1024 * 1024 * 1024; // 64 GiB announced
      const x = await sendThenRead(octets('PATCH', `/v2/${name}/blobs/uploads/0c0c0c0c-0000-4000-8000-000000000000`, endless), endless);
      assert.ok(x.sent < endless, 'the server closed the connection');
      // What the server read and dropped, plus what socket buffers on both sides held at the end.
      assert.ok(x.sent < LINGER_BYTES + 64 * 1024 * 1024, `sent ${x.sent} bytes before the close`);
    });
  });

  describe('an answer after the whole body has arrived keeps the connection', () => {
    it('a monolithic upload whose digest does not match, after reading all of it', async () => {
      const wrong = `sha256:${'0'.repeat(64)}`;
      assertKeptAlive(await exchange(server.baseUrl, octets('POST', `/v2/${name}/blobs/uploads/?digest=${wrong}`, big.length), big, ping), 400, 'digest mismatch');
    });

    it('an invalid manifest', async () => {
      const body = Buffer.from('{"schemaVersion": 2, "layers": "none"}');
      const put = head('PUT', `/v2/${name}/manifests/bad`, { host: 'x', authorization: auth, 'content-type': OCI_MANIFEST, 'content-length': body.length });
      assertKeptAlive(await exchange(server.baseUrl, put, body, ping), 400, 'invalid manifest');
    });

    it('a small body refused before it was read, but received with its head', async () => {
      const body = randomBytes(1000);
      for (const [path, status] of [
        [`/v2/${name}/blobs/uploads/0c0c0c0c-0000-4000-8000-000000000000`, 404],
        [`/v2/${name}/blobs/uploads/?digest=sha256:nothex`, 400],
      ] as const) {
        const method = path.includes('?') ? 'POST' : 'PATCH';
        // Head and body in one write: the server has all of it when it answers.
        const x = await exchange(server.baseUrl, Buffer.concat([Buffer.from(octets(method, path, body.length)), body]), Buffer.alloc(0), ping);
        assertKeptAlive(x, status, `${method} ${path}`);
      }
    });
  });

  describe('successful requests share one connection', () => {
    it('a chunked upload, its status, a finished blob and a pull on one keep-alive socket', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const sockets = new Set<unknown>();
      const { hostname, port } = new URL(server.baseUrl);
      const request = (method: string, path: string, body?: Buffer) =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
          const req = http.request(
            { host: hostname, port, method, path, agent, headers: { authorization: auth, ...(body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}) } },
            (res) => {
              sockets.add(res.socket);
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      try {
        const b = blob(randomBytes(3 * 1024 * 1024));
        const started = await request('POST', `/v2/${name}/blobs/uploads/`);
        assert.equal(started.status, 202);
        const loc = relative(started.headers.location!);
        assert.equal((await request('PATCH', loc, b.bytes.subarray(0, 1024 * 1024))).status, 202);
        assert.equal((await request('GET', loc)).status, 204);
        assert.equal((await request('PUT', `${loc}?digest=${b.digest}`, b.bytes.subarray(1024 * 1024))).status, 201);
        const pulled = await request('GET', `/v2/${name}/blobs/${b.digest}`);
        assert.equal(pulled.status, 200);
        assert.ok(pulled.body.equals(b.bytes));
        assert.equal(sockets.size, 1, 'every request went over one connection');
      } finally {
        agent.destroy();
      }
    });
  });
});

/** `body` in chunked transfer encoding, 64 KiB per chunk. */
function chunkedBody(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += 64 * 1024) {
    const c = body.subarray(i, i + 64 * 1024);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
