import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CompleteRequest } from '../../../src/http/complete-request.ts';

/** Requests the server saw, in order, with whether 'end' and 'close' were emitted on them. */
interface Seen {
  req: IncomingMessage;
  ended: boolean;
  closed: boolean;
}

/** HTTP answers (each with Content-Length) read off a raw connection, in order. */
class Answers {
  private text = '';
  private readonly out: string[] = [];
  private wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      for (;;) {
        const head = this.text.indexOf('\r\n\r\n');
        if (head === -1) break;
        const length = Number(/content-length: (\d+)/i.exec(this.text.slice(0, head))?.[1] ?? 0);
        if (this.text.length < head + 4 + length) break;
        this.out.push(this.text.slice(0, head + 4 + length));
        this.text = this.text.slice(head + 4 + length);
      }
      this.wake?.();
    });
  }

  /** The next `count` answers. */
  async take(count: number): Promise<string[]> {
    while (this.out.length < count) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.out.splice(0, count);
  }
}

describe('CompleteRequest', { timeout: 20_000 }, () => {
  let server: http.Server;
  let port: number;
  const seen: Seen[] = [];
  /** What the next request's handler does instead of answering at once. */
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  before(async () => {
    server = http.createServer({ IncomingMessage: CompleteRequest }, (req, res) => {
      const s: Seen = { req, ended: false, closed: false };
      seen.push(s);
      req.on('end', () => (s.ended = true));
      req.on('close', () => (s.closed = true));
      req.on('error', () => undefined); // 'aborted' when the client goes away mid-answer
      if (handle) return handle(req, res);
      res.setHeader('content-length', req.method === 'HEAD' ? '0' : '2');
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  async function exchange(raw: string, count: number): Promise<{ answers: string[]; seen: Seen[] }> {
    seen.length = 0;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const reader = new Answers(socket);
    socket.write(raw);
    const got = await reader.take(count);
    await nextTurn();
    await nextTurn();
    socket.destroy();
    return { answers: got, seen: [...seen] };
  }

  it('leaves bodyless requests undrained and keeps reading the connection', async () => {
    const get = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    const head = 'HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n';
    const empty = 'DELETE /c HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n';
    const { answers: got, seen: reqs } = await exchange(get + head + empty + get, 4);
    assert.equal(got.length, 4);
    for (const a of got) assert.match(a, /^HTTP\/1\.1 200 OK/);
    assert.deepEqual(reqs.map((s) => s.req.url), ['/a', '/b', '/c', '/a']);
    // Node's own class drains each (resume, 'end', destroy, 'close') once its answer is finished.
    for (const s of reqs) assert.deepEqual([s.ended, s.closed], [false, false], s.req.url);
  });

  it('drains a request whose body nobody read, and reads the next request after it', async () => {
    const post = 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
    const chunked = 'PUT /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    // Answered a turn later: the body has arrived in full by then (the request is complete).
    handle = (_req, res) => setImmediate(() => res.setHeader('content-length', '2').end('ok'));
    let got: string[];
    let reqs: Seen[];
    try {
      ({ answers: got, seen: reqs } = await exchange(post + chunked + 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n', 3));
    } finally {
      handle = undefined;
    }
    assert.equal(got.length, 3);
    assert.deepEqual(reqs.map((s) => s.req.complete), [true, true, true]);
    assert.deepEqual(reqs.map((s) => s.req.url), ['/upload', '/chunked', '/next']);
    assert.deepEqual([reqs[0]!.ended, reqs[1]!.ended, reqs[2]!.ended], [true, true, false]);
  });

  it('drains a body that arrives after the answer, then serves the next request', async () => {
    seen.length = 0;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const reader = new Answers(socket);
    // More than a request buffers unread: undrained, it would pause the connection for good.
    const size = 1024 * 1024;
    socket.write(`POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    assert.match((await reader.take(1))[0]!, /^HTTP\/1\.1 200 OK/);
    socket.write(Buffer.alloc(size, 'x'));
    socket.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    const second = await reader.take(1);
    socket.destroy();
    assert.match(second[0]!, /^HTTP\/1\.1 200 OK/);
    assert.deepEqual(seen.map((s) => s.req.url), ['/early', '/after']);
    assert.equal(seen[0]!.ended, true);
  });

  it("still closes a bodyless request whose client goes away before the answer is finished", async () => {
    seen.length = 0;
    const started = new Promise<ServerResponse>((resolve) => {
      handle = (_req, res) => {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('partial');
        resolve(res);
      };
    });
    try {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
      await started;
      const req = seen[0]!.req;
      const closed = new Promise((resolve) => req.once('close', resolve));
      socket.destroy();
      await closed;
      assert.equal(seen[0]!.closed, true);
    } finally {
      handle = undefined;
    }
  });
});
