import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pump } from '../../../src/storage/pump.ts';

const EVENTS = ['data', 'end', 'error', 'close', 'drain', 'finish', 'readable'] as const;

function listeners(...streams: (Readable | Writable)[]): number[] {
  return streams.flatMap((s) => EVENTS.map((e) => s.listenerCount(e)));
}

/** A source of `count` chunks of `size` bytes, produced only when read. */
function chunks(count: number, size = 1024): Readable & { produced: () => number } {
  let produced = 0;
  const stream = new Readable({
    highWaterMark: size,
    read() {
      this.push(produced < count ? Buffer.alloc(size, produced++ % 256) : null);
    },
  });
  return Object.assign(stream, { produced: () => produced });
}

/** A destination collecting what it is given; `delay` makes each write asynchronous. */
function sink(options: { delay?: boolean; highWaterMark?: number; final?: (done: () => void) => void; destroy?: (err: Error | null, done: (err?: Error | null) => void) => void } = {}) {
  const received: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      received.push(chunk);
      if (options.delay) setImmediate(done);
      else done();
    },
    final(done) {
      if (options.final) options.final(() => done());
      else done();
    },
    destroy(err, done) {
      if (options.destroy) options.destroy(err, done);
      else done(err);
    },
  });
  return Object.assign(stream, { bytes: () => Buffer.concat(received) });
}

/** A stream whose _destroy takes a while, recording when it has finished. */
function slowDestroy(): { destroyed: () => boolean; destroy: (err: Error | null, done: (err?: Error | null) => void) => void } {
  let finished = false;
  return {
    destroyed: () => finished,
    destroy(err, done) {
      setTimeout(() => {
        finished = true;
        done(err);
      }, 20);
    },
  };
}

const premature = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';

describe('pump', () => {
  it('copies every byte and resolves only after the destination has run _final', async () => {
    let finalDone = false;
    const to = sink({
      delay: true,
      final: (done) =>
        setTimeout(() => {
          finalDone = true;
          done();
        }, 20),
    });
    const from = chunks(50);
    await pump(from, to);
    assert.equal(finalDone, true);
    assert.equal(to.bytes().length, 50 * 1024);
    assert.equal(to.bytes()[49 * 1024], 49);
  });

  it('waits for a destination that closes itself after finishing (a file writer closing its descriptor)', async () => {
    const slow = slowDestroy();
    const to = sink({ destroy: slow.destroy });
    await pump(chunks(3), to);
    assert.equal(slow.destroyed(), true);
    assert.equal(to.closed, true);
  });

  it('rejects when the destination fails to close after finishing, never resolving first', async () => {
    const to = sink({ destroy: (_err, done) => setTimeout(() => done(new Error('close failed')), 5) });
    await assert.rejects(pump(chunks(3), to), /close failed/);
  });

  it('settles at finish for a Duplex destination, whose close waits for its own reader', async () => {
    const through = new Transform({ transform: (chunk, _enc, done) => done(null, chunk) });
    await pump(chunks(2), through);
    assert.equal(through.writableFinished, true);
    assert.equal(through.closed, false);
    const read: Buffer[] = [];
    for await (const c of through) read.push(c as Buffer);
    assert.equal(Buffer.concat(read).length, 2048);
  });

  it('resolves for an empty source and for one that has already ended', async () => {
    const empty = sink();
    await pump(Readable.from([]), empty);
    assert.equal(empty.writableFinished, true);

    const ended = new Readable({ read() {} });
    ended.push(null);
    ended.resume();
    await new Promise((resolve) => ended.once('end', resolve));
    const to = sink();
    await pump(ended, to);
    assert.equal(to.writableFinished, true);
  });

  it('honours backpressure: the source is not read far ahead of a slow destination', async () => {
    const size = 1024;
    const from = chunks(400, size);
    let maxBuffered = 0;
    let maxAhead = 0;
    let written = 0;
    const to = new Writable({
      highWaterMark: 4 * size,
      write(_chunk, _enc, done) {
        written++;
        maxBuffered = Math.max(maxBuffered, to.writableLength);
        maxAhead = Math.max(maxAhead, from.produced() - written);
        setImmediate(done);
      },
    });
    await pump(from, to);
    assert.equal(written, 400);
    assert.ok(maxBuffered <= 5 * size, `destination buffered ${maxBuffered} bytes`);
    assert.ok(maxAhead <= 12, `source produced ${maxAhead} chunks ahead of the destination`);
  });

  it('a source error destroys the destination with it, and rejects only once the destination has closed', async () => {
    const slow = slowDestroy();
    const to = sink({ delay: true, destroy: slow.destroy });
    let sent = 0;
    const from = new Readable({
      read() {
        if (sent++ < 3) this.push(Buffer.alloc(100));
        else this.destroy(new Error('client went away'));
      },
    });
    let destinationError: Error | undefined;
    to.on('error', (err) => (destinationError = err));
    await assert.rejects(pump(from, to), /client went away/);
    assert.equal(slow.destroyed(), true, 'rejected before the destination finished destroying');
    assert.equal(to.destroyed, true);
    assert.equal(destinationError?.message, 'client went away');
  });

  it('a source that closes before its end destroys the destination and rejects with a premature close', async () => {
    const to = sink();
    const from = new Readable({ read() {} });
    from.push(Buffer.from('partial'));
    setTimeout(() => from.destroy(), 5);
    await assert.rejects(pump(from, to), premature);
    assert.equal(to.destroyed, true);
    assert.equal(to.bytes().toString(), 'partial');
  });

  it('a destination error destroys the source with it and rejects', async () => {
    const from = chunks(1000);
    const to = new Writable({
      write(_chunk, _enc, done) {
        done(new Error('disk full'));
      },
    });
    await assert.rejects(pump(from, to), /disk full/);
    assert.equal(from.destroyed, true);
    assert.ok(from.produced() < 1000);
  });

  it('a destination closed early destroys the source and rejects with a premature close', async () => {
    const from = new Readable({ read() {} });
    const to = sink();
    setTimeout(() => to.destroy(), 5);
    await assert.rejects(pump(from, to), premature);
    assert.equal(from.destroyed, true);
  });

  it('reports a real error that follows a premature close', async () => {
    const from = new Readable({ read() {} });
    const to = sink();
    const pumped = pump(from, to);
    from.destroy(); // its 'close' comes first...
    to.destroy(new Error('disk failed')); // ...then this 'error'
    await assert.rejects(pumped, /disk failed/);
  });

  it('rejects at once for streams already destroyed', async () => {
    const gone = new Readable({ read() {} });
    gone.destroy(new Error('already failed'));
    await assert.rejects(pump(gone, sink()), /already failed/);

    const closed = sink();
    closed.destroy();
    await new Promise((resolve) => closed.once('close', resolve));
    const from = new Readable({ read() {} });
    await assert.rejects(pump(from, closed), premature);
    assert.equal(from.destroyed, true);
  });

  it('an aborted signal destroys both streams and rejects with an AbortError carrying the reason', async () => {
    const controller = new AbortController();
    const from = new Readable({ read() {} }); // never ends on its own
    from.push(Buffer.from('some'));
    const to = sink();
    const pumped = pump(from, to, controller.signal);
    setTimeout(() => controller.abort(new Error('shutting down')), 5);
    await assert.rejects(pumped, (err: Error) => err.name === 'AbortError' && (err.cause as Error).message === 'shutting down');
    assert.equal(from.destroyed, true);
    assert.equal(to.destroyed, true);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('a signal aborted beforehand rejects without writing anything', async () => {
    const from = chunks(3);
    const to = sink();
    await assert.rejects(pump(from, to, AbortSignal.abort()), { name: 'AbortError' });
    assert.equal(to.bytes().length, 0);
    assert.equal(from.destroyed, true);
    assert.equal(to.destroyed, true);
  });

  it('leaves no listener behind on the streams or on a signal shared by many pumps', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const signal = new AbortController().signal;
      // Like a 1 GiB upload in 16 MiB PATCH chunks: 64 pumps, each its own body and writer.
      for (let i = 0; i < 64; i++) {
        const from = chunks(4);
        const to = sink();
        const before = listeners(from, to);
        await pump(from, to, signal);
        assert.deepEqual(listeners(from, to), before);
      }
      assert.equal(getEventListeners(signal, 'abort').length, 0);

      // And after failures on either side.
      const failing = new Readable({ read() { this.destroy(new Error('gone')); } });
      const to = sink();
      const before = listeners(failing, to);
      await assert.rejects(pump(failing, to, signal));
      assert.deepEqual(listeners(failing, to), before);
      const from = chunks(10);
      const broken = new Writable({ write: (_c, _e, done) => done(new Error('broken')) });
      const before2 = listeners(from, broken);
      await assert.rejects(pump(from, broken, signal));
      assert.deepEqual(listeners(from, broken), before2);
      assert.equal(getEventListeners(signal, 'abort').length, 0);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  describe('with an HTTP request as the source', () => {
    let server: Server;
    let port: number;
    let handle: (req: IncomingMessage, respond: (status: number) => void) => void;

    before(async () => {
      server = createServer((req, res) => handle(req, (status) => res.writeHead(status, { 'content-length': '0' }).end()));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    function send(body: Buffer | undefined, options: { cutAfter?: Buffer; contentLength?: number } = {}): Promise<number | 'cut'> {
      return new Promise((resolve) => {
        const req = request({ port, host: '127.0.0.1', agent: false, method: 'PATCH', path: '/', headers: { 'content-length': String(options.contentLength ?? body?.length ?? 0) } });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', () => resolve('cut'));
        if (options.cutAfter) {
          req.write(options.cutAfter, () => setTimeout(() => req.destroy(), 20));
        } else {
          req.end(body);
        }
      });
    }

    it('a failing destination leaves the connection up so the error response still reaches the client', async () => {
      const result = new Promise<unknown>((resolve) => {
        handle = (req, respond) => {
          const to = new Writable({ write: (_c, _e, done) => done(Object.assign(new Error('offset moved'), { status: 416 })) });
          pump(req, to).then(
            () => respond(200),
            (err: Error & { status: number }) => {
              respond(err.status);
              resolve(err);
            },
          );
        };
      });
      assert.equal(await send(Buffer.alloc(256 * 1024)), 416);
      assert.match(((await result) as Error).message, /offset moved/);
    });

    it('a client gone mid-body rejects, with the destination destroyed and closed first', async () => {
      const outcome = new Promise<{ err: unknown; closed: boolean; bytes: number }>((resolve) => {
        handle = (req) => {
          const slow = slowDestroy();
          const to = sink({ destroy: slow.destroy });
          pump(req, to).then(
            () => resolve({ err: undefined, closed: slow.destroyed(), bytes: to.bytes().length }),
            (err) => resolve({ err, closed: slow.destroyed(), bytes: to.bytes().length }),
          );
        };
      });
      assert.equal(await send(undefined, { contentLength: 100_000, cutAfter: Buffer.alloc(1000, 1) }), 'cut');
      const { err, closed, bytes } = await outcome;
      assert.ok(err instanceof Error, 'rejected');
      assert.equal(closed, true);
      assert.equal(bytes, 1000);
    });

    it('a whole body is copied and the request answered', async () => {
      const body = Buffer.alloc(3 * 1024 * 1024, 7);
      let got: Buffer | undefined;
      handle = (req, respond) => {
        const to = sink({ delay: true });
        pump(req, to).then(
          () => {
            got = to.bytes();
            respond(202);
          },
          () => respond(500),
        );
      };
      assert.equal(await send(body), 202);
      assert.ok(got?.equals(body));
    });
  });
});
