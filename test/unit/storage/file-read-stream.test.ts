import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { DOUBLE_BUFFER_LIMIT, FileReadStream, PUMP_CHUNK, pumpReads, SYNC_READ_BYTES_PER_TURN } from '../../../src/storage/fs/file-read-stream.ts';

describe('FileReadStream', () => {
  let dir: string;
  let path: string;
  const content = randomBytes(3 * PUMP_CHUNK * 4 + 12_345); // several pump rounds and a short tail

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-frs-'));
    path = join(dir, 'blob');
    await writeFile(path, content);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  it('reads the whole file and ranges when consumed as an iterator', async () => {
    assert.deepEqual(await collect(new FileReadStream(await open(path, 'r'))), content);
    assert.deepEqual(await collect(new FileReadStream(await open(path, 'r'), 10, 1_500_000)), content.subarray(10, 1_500_001));
    assert.deepEqual(await collect(new FileReadStream(await open(path, 'r'), 5, 5)), content.subarray(5, 6));
  });

  it('gives each chunk its own buffer when piped into a non-HTTP sink', async () => {
    const sink = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
    await pipeline(new FileReadStream(await open(path, 'r')), sink);
    assert.deepEqual(await collect(sink), content);
  });

  it('fails rather than ends short when the file is shorter than the range', async () => {
    await assert.rejects(collect(new FileReadStream(await open(path, 'r'), 0, content.length + 100)));
  });

  /** Makes the pumps' reads look slow (from the disk: they go to the thread pool) or fast again. */
  function readsLookSlow(slow: boolean): void {
    for (let i = 0; i < 64; i++) {
      pumpReads.time(() => {
        const until = performance.now() + (slow ? 2 : 0);
        while (performance.now() < until);
      });
    }
  }

  for (const disk of ['page cache', 'slow disk'] as const) describe(`piped into an HTTP response, reads from the ${disk}`, () => {
    before(() => readsLookSlow(disk === 'slow disk'));
    after(() => readsLookSlow(false));
    let server: Server;
    let port: number;
    let range: { start: number; end: number } | undefined;
    before(async () => {
      server = createServer(async (_req, res) => {
        const stream = new FileReadStream(await open(path, 'r'), range?.start, range?.end);
        res.setHeader('content-length', String(range ? range.end - range.start + 1 : content.length));
        stream.pipe(res);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    function fetchBody(slow: boolean): Promise<Buffer> {
      return new Promise((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            if (slow) {
              res.pause();
              setTimeout(() => res.resume(), 1);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        }).on('error', reject);
      });
    }

    it('sends every byte intact to a fast and a slow reader, whole and ranged', async () => {
      range = undefined;
      assert.deepEqual(await fetchBody(false), content);
      assert.deepEqual(await fetchBody(true), content);
      range = { start: 7, end: PUMP_CHUNK * 2 + 3 };
      assert.deepEqual(await fetchBody(true), content.subarray(7, PUMP_CHUNK * 2 + 4));
    });

    it('many at once stay intact (the reused buffers are never overwritten while in flight)', async () => {
      range = undefined;
      const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => fetchBody(i % 2 === 0)));
      assert.ok(8 * content.length > SYNC_READ_BYTES_PER_TURN, 'more than one turn of synchronous reads');
      for (const b of bodies) assert.ok(b.equals(content));
    });

    it('more downloads than get two buffers stay intact, and pooled buffers carry nothing over', async () => {
      range = undefined;
      const bodies = await Promise.all(Array.from({ length: DOUBLE_BUFFER_LIMIT + 4 }, (_, i) => fetchBody(i % 3 === 0)));
      for (const b of bodies) assert.ok(b.equals(content));
      // Short ranges after full downloads read into pooled buffers still holding older bytes.
      for (const r of [{ start: 0, end: 0 }, { start: 5, end: 20 }, { start: PUMP_CHUNK - 3, end: PUMP_CHUNK + 2 }]) {
        range = r;
        assert.deepEqual(await fetchBody(false), content.subarray(r.start, r.end + 1));
      }
    });

    it('a client that goes away mid-body does not break the server', async () => {
      range = undefined;
      await new Promise<void>((resolve, reject) => {
        get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.once('data', () => {
            res.destroy();
            resolve();
          });
        }).on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err)));
      });
      assert.deepEqual(await fetchBody(false), content);
    });
  });
});
