/**
 * The BlobStore contract: every promise of `src/storage/blob-store.ts`, run against each driver.
 * A driver's test file calls `blobStoreContract(name, factory)`; the factory returns a fresh,
 * empty store and a cleanup that releases whatever it holds (temp dirs, buckets, connections).
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { digestOf, type Digest } from '../../src/domain/digest.ts';
import { RegistryError } from '../../src/domain/errors.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';

export interface BlobStoreFixture {
  store: BlobStore;
  cleanup: () => Promise<void>;
}

export type BlobStoreFactory = () => Promise<BlobStoreFixture>;

export interface BlobStoreContractOptions {
  /** Size of the streamed round-trip blob; 64 MiB unless a slow backend asks for less. */
  largeBlobBytes?: number;
}

const MiB = 1024 * 1024;

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function isCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RegistryError, `expected a RegistryError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

async function listAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of it) out.push(item);
  return out;
}

/**
 * Deterministic pseudo-random bytes produced chunk by chunk (xorshift), so a large blob is
 * never held whole in memory by the test. `hash` is updated with every byte produced.
 */
function generated(size: number, seed: number, hash?: ReturnType<typeof createHash>, chunkSize = MiB): Readable {
  let produced = 0;
  let x = seed >>> 0 || 1;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, size - produced);
      const chunk = Buffer.allocUnsafe(n);
      let i = 0;
      for (; i + 4 <= n; i += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        chunk.writeUInt32LE(x >>> 0, i);
      }
      for (; i < n; i++) chunk[i] = (x >>> (8 * (i % 4))) & 0xff;
      hash?.update(chunk);
      produced += n;
      this.push(chunk);
    },
  });
}

/** Hashes a stream without keeping it; resolves to `sha256:<hex>` and the byte count. */
async function hashStream(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done();
      },
    }),
  );
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** sha256 of bytes `start..end` (inclusive) of the concatenated streams, read one chunk at a time. */
async function rangeDigest(parts: (() => Readable)[], start: number, end: number): Promise<string> {
  const hash = createHash('sha256');
  let at = 0;
  for (const part of parts) {
    for await (const chunk of part() as AsyncIterable<Buffer>) {
      const from = Math.max(start, at);
      const to = Math.min(end + 1, at + chunk.length);
      if (from < to) hash.update(chunk.subarray(from - at, to - at));
      at += chunk.length;
    }
  }
  return `sha256:${hash.digest('hex')}`;
}

export function blobStoreContract(name: string, factory: BlobStoreFactory, options: BlobStoreContractOptions = {}): void {
  const largeBytes = options.largeBlobBytes ?? 64 * MiB;

  describe(`BlobStore contract: ${name}`, () => {
    let fixture: BlobStoreFixture | undefined;
    let store: BlobStore;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterEach(async () => {
      await store.close?.();
      await fixture?.cleanup();
      fixture = undefined;
    });
    after(async () => {
      await fixture?.cleanup();
    });

    /** Stores `bytes` through the staging area, the only way in. */
    async function put(bytes: Buffer | string): Promise<Digest> {
      const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      const digest = digestOf(data);
      const id = randomUUID();
      await store.uploads.create(id);
      assert.equal(await store.uploads.append(id, 0, Readable.from([data])), data.length);
      await store.uploads.commit(id, digest);
      return digest;
    }

    describe('blobs', () => {
      it('stat is undefined and read rejects with BLOB_UNKNOWN for a missing blob', async () => {
        const missing = digestOf(Buffer.from('never stored'));
        assert.equal(await store.stat(missing), undefined);
        await assert.rejects(store.read(missing), isCode('BLOB_UNKNOWN'));
        await assert.rejects(store.read(missing, { start: 0, end: 0 }), isCode('BLOB_UNKNOWN'));
      });

      it('stat reports the size and read streams the exact bytes', async () => {
        const bytes = Buffer.from('hello, berth');
        const digest = await put(bytes);
        assert.deepEqual(await store.stat(digest), { size: bytes.length });
        assert.deepEqual(await collect(await store.read(digest)), bytes);
      });

      it('stores and reads back an empty blob', async () => {
        const digest = await put(Buffer.alloc(0));
        assert.deepEqual(await store.stat(digest), { size: 0 });
        assert.equal((await collect(await store.read(digest))).length, 0);
      });

      it('reads inclusive byte ranges: first byte, last byte, middle, whole', async () => {
        const bytes = Buffer.from('0123456789abcdef');
        const digest = await put(bytes);
        const range = async (start: number, end: number) => (await collect(await store.read(digest, { start, end }))).toString();
        assert.equal(await range(0, 0), '0');
        assert.equal(await range(15, 15), 'f');
        assert.equal(await range(3, 9), '3456789');
        assert.equal(await range(0, 15), bytes.toString());
        assert.equal(await range(10, 15), 'abcdef');
      });

      it('reads a range that spans several appended chunks', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        let offset = 0;
        for (const part of ['abc', 'defgh', 'ij']) offset = await store.uploads.append(id, offset, Readable.from([Buffer.from(part)]));
        const digest = digestOf(Buffer.from('abcdefghij'));
        await store.uploads.commit(id, digest);
        assert.equal((await collect(await store.read(digest, { start: 2, end: 8 }))).toString(), 'cdefghi');
      });

      it('delete is true once, then false, and the blob is gone', async () => {
        const digest = await put('to be deleted');
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.stat(digest), undefined);
        await assert.rejects(store.read(digest), isCode('BLOB_UNKNOWN'));
        assert.equal(await store.delete(digest), false);
      });

      it('delete of a blob never stored is false', async () => {
        assert.equal(await store.delete(digestOf(Buffer.from('nothing'))), false);
      });

      it('delete leaves other blobs alone', async () => {
        const a = await put('blob a');
        const b = await put('blob b');
        await store.delete(a);
        assert.deepEqual(await store.stat(b), { size: 6 });
      });

      it('list yields every stored blob once, and nothing staged or deleted', async () => {
        assert.deepEqual(await listAll(store.list()), []);
        const digests = [];
        for (let i = 0; i < 5; i++) digests.push(await put(`blob number ${i}`));
        const staged = randomUUID();
        await store.uploads.create(staged);
        await store.uploads.append(staged, 0, Readable.from([Buffer.from('staged only')]));
        await store.delete(digests[4]!);
        const listed = await listAll(store.list());
        assert.deepEqual([...listed].sort(), digests.slice(0, 4).sort());
      });

      it('an aborted read signal ends the stream with an error instead of hanging', async () => {
        const digest = await put(Buffer.alloc(3 * MiB, 7));
        const controller = new AbortController();
        const stream = await store.read(digest, undefined, controller.signal);
        controller.abort();
        await assert.rejects(collect(stream));
      });

      it('redirectUrl, when offered, is undefined or a URL string', async () => {
        if (!store.redirectUrl) return;
        const digest = await put('redirectable');
        const url = await store.redirectUrl(digest);
        if (url !== undefined) assert.doesNotThrow(() => new URL(url));
      });
    });

    describe('uploads', () => {
      it('create makes an empty upload; size is undefined for an unknown one', async () => {
        const id = randomUUID();
        assert.equal(await store.uploads.size(id), undefined);
        await store.uploads.create(id);
        assert.equal(await store.uploads.size(id), 0);
      });

      it('append at the current offset resolves to the new size, chunk after chunk', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        assert.equal(await store.uploads.append(id, 0, Readable.from([Buffer.from('abc')])), 3);
        assert.equal(await store.uploads.size(id), 3);
        assert.equal(await store.uploads.append(id, 3, Readable.from([Buffer.from('de'), Buffer.from('fg')])), 7);
        assert.equal(await store.uploads.append(id, 7, Readable.from([])), 7);
        assert.equal(await store.uploads.size(id), 7);
        assert.equal((await collect(store.uploads.read(id))).toString(), 'abcdefg');
      });

      it('append at an offset other than the current size rejects with BLOB_UPLOAD_INVALID and writes nothing', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([Buffer.from('abcd')]));
        await assert.rejects(store.uploads.append(id, 2, Readable.from([Buffer.from('XY')])), isCode('BLOB_UPLOAD_INVALID'));
        await assert.rejects(store.uploads.append(id, 9, Readable.from([Buffer.from('XY')])), isCode('BLOB_UPLOAD_INVALID'));
        assert.equal(await store.uploads.size(id), 4);
        assert.equal((await collect(store.uploads.read(id))).toString(), 'abcd');
      });

      it('append to an unknown upload rejects with BLOB_UPLOAD_UNKNOWN', async () => {
        await assert.rejects(store.uploads.append(randomUUID(), 0, Readable.from([Buffer.from('x')])), isCode('BLOB_UPLOAD_UNKNOWN'));
      });

      it('read of an unknown upload errors', async () => {
        await assert.rejects(async () => collect(store.uploads.read(randomUUID())));
      });

      it('a failed append leaves a consistent size, and the upload resumes from there', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([Buffer.from('head-')]));
        let pushed = 0;
        const failing = new Readable({
          read() {
            if (pushed === 0) {
              pushed++;
              this.push(Buffer.from('partial-'));
            } else {
              this.destroy(new Error('client went away'));
            }
          },
        });
        await assert.rejects(store.uploads.append(id, 5, failing), /client went away/);
        const size = await store.uploads.size(id);
        assert.ok(size !== undefined && size >= 5 && size <= 13, `size after a failed append: ${size}`);
        const staged = await collect(store.uploads.read(id));
        assert.equal(staged.length, size);
        assert.equal(staged.toString(), 'head-partial-'.slice(0, size));
        await store.uploads.append(id, size, Readable.from([Buffer.from('head-partial-tail'.slice(size))]));
        const digest = digestOf(Buffer.from('head-partial-tail'));
        await store.uploads.commit(id, digest);
        assert.equal((await collect(await store.read(digest))).toString(), 'head-partial-tail');
      });

      it('an aborted signal stops an append; size stays readable', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        const controller = new AbortController();
        let calls = 0;
        const endless = new Readable({
          read() {
            calls++;
            if (calls === 2) controller.abort();
            if (calls <= 2) this.push(Buffer.from('0123456789'));
            // then nothing more: without the signal this append would never finish
          },
        });
        await assert.rejects(store.uploads.append(id, 0, endless, controller.signal));
        const size = await store.uploads.size(id);
        assert.ok(size !== undefined && size <= 20, `size after an aborted append: ${size}`);
      });

      it('staged bytes are invisible to stat, read and list until commit', async () => {
        const bytes = Buffer.from('not yet a blob');
        const digest = digestOf(bytes);
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([bytes]));
        assert.equal(await store.stat(digest), undefined);
        await assert.rejects(store.read(digest), isCode('BLOB_UNKNOWN'));
        assert.deepEqual(await listAll(store.list()), []);
        await store.uploads.commit(id, digest);
        assert.deepEqual(await store.stat(digest), { size: bytes.length });
        assert.deepEqual(await collect(await store.read(digest)), bytes);
      });

      it('commit removes the staged upload', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([Buffer.from('x')]));
        await store.uploads.commit(id, digestOf(Buffer.from('x')));
        assert.equal(await store.uploads.size(id), undefined);
        assert.ok(!(await listAll(store.uploads.list())).some((u) => u.id === id));
      });

      it('commit is idempotent when the blob already exists (another upload of the same bytes)', async () => {
        const bytes = Buffer.from('same bytes twice');
        const digest = await put(bytes);
        const again = randomUUID();
        await store.uploads.create(again);
        await store.uploads.append(again, 0, Readable.from([bytes]));
        await store.uploads.commit(again, digest);
        assert.equal(await store.uploads.size(again), undefined);
        assert.deepEqual(await store.stat(digest), { size: bytes.length });
        assert.deepEqual(await collect(await store.read(digest)), bytes);
        assert.deepEqual(await listAll(store.list()), [digest]);
      });

      it('a retried commit of the same upload resolves once the blob exists', async () => {
        const bytes = Buffer.from('committed once');
        const digest = digestOf(bytes);
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([bytes]));
        await store.uploads.commit(id, digest);
        await store.uploads.commit(id, digest);
        assert.deepEqual(await collect(await store.read(digest)), bytes);
      });

      it('commit of an unknown upload rejects with BLOB_UPLOAD_UNKNOWN when the blob does not exist', async () => {
        await assert.rejects(store.uploads.commit(randomUUID(), digestOf(Buffer.from('ghost'))), isCode('BLOB_UPLOAD_UNKNOWN'));
        assert.equal(await store.stat(digestOf(Buffer.from('ghost'))), undefined);
      });

      it('concurrent commits of the same digest from two uploads both resolve and leave one whole blob', async () => {
        const bytes = Buffer.alloc(MiB + 3, 9);
        const digest = digestOf(bytes);
        const ids = [randomUUID(), randomUUID()];
        for (const id of ids) {
          await store.uploads.create(id);
          await store.uploads.append(id, 0, Readable.from([bytes]));
        }
        await Promise.all(ids.map((id) => store.uploads.commit(id, digest)));
        assert.deepEqual(await store.stat(digest), { size: bytes.length });
        assert.deepEqual(await hashStream(await store.read(digest)), { digest, size: bytes.length });
        assert.deepEqual(await listAll(store.uploads.list()), []);
      });

      it('a blob being read keeps its bytes while the same digest is committed again', async () => {
        const bytes = Buffer.alloc(2 * MiB + 17, 3);
        const digest = await put(bytes);
        const reading = await store.read(digest);
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([bytes]));
        await store.uploads.commit(id, digest);
        assert.deepEqual(await collect(reading), bytes);
      });

      it('abort removes the staged upload and is idempotent', async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        await store.uploads.append(id, 0, Readable.from([Buffer.from('discard me')]));
        await store.uploads.abort(id);
        assert.equal(await store.uploads.size(id), undefined);
        await store.uploads.abort(id);
        await store.uploads.abort(randomUUID());
        assert.deepEqual(await listAll(store.uploads.list()), []);
        await assert.rejects(store.uploads.commit(id, digestOf(Buffer.from('discard me'))), isCode('BLOB_UPLOAD_UNKNOWN'));
      });

      it('list yields every staged upload with a modification time', async () => {
        assert.deepEqual(await listAll(store.uploads.list()), []);
        const ids = [randomUUID(), randomUUID(), randomUUID()];
        for (const id of ids) await store.uploads.create(id);
        await store.uploads.append(ids[1]!, 0, Readable.from([Buffer.from('some bytes')]));
        const listed = await listAll(store.uploads.list());
        assert.deepEqual(listed.map((u) => u.id).sort(), [...ids].sort());
        for (const u of listed) {
          assert.ok(u.modifiedAt instanceof Date && !Number.isNaN(u.modifiedAt.getTime()), `modifiedAt of ${u.id}`);
        }
        await store.uploads.abort(ids[0]!);
        await store.uploads.commit(ids[2]!, digestOf(Buffer.alloc(0)));
        assert.deepEqual((await listAll(store.uploads.list())).map((u) => u.id), [ids[1]]);
      });

      it('uploads are independent of each other', async () => {
        const a = randomUUID();
        const b = randomUUID();
        await store.uploads.create(a);
        await store.uploads.create(b);
        await Promise.all([
          store.uploads.append(a, 0, Readable.from([Buffer.from('aaaa')])),
          store.uploads.append(b, 0, Readable.from([Buffer.from('bb')])),
        ]);
        assert.equal(await store.uploads.size(a), 4);
        assert.equal(await store.uploads.size(b), 2);
        await store.uploads.abort(a);
        assert.equal((await collect(store.uploads.read(b))).toString(), 'bb');
      });

      it(`streams a ${largeBytes / MiB} MiB blob through two appends and reads it back with the right sha256`, async () => {
        const id = randomUUID();
        await store.uploads.create(id);
        const written = createHash('sha256');
        const first = Math.floor(largeBytes * 0.6);
        assert.equal(await store.uploads.append(id, 0, generated(first, 42, written)), first);
        assert.equal(await store.uploads.append(id, first, generated(largeBytes - first, 4242, written, 256 * 1024)), largeBytes);
        const digest = `sha256:${written.digest('hex')}` as Digest;

        assert.deepEqual(await hashStream(store.uploads.read(id)), { digest, size: largeBytes });
        await store.uploads.commit(id, digest);
        assert.deepEqual(await store.stat(digest), { size: largeBytes });
        assert.deepEqual(await hashStream(await store.read(digest)), { digest, size: largeBytes });

        // A range across chunk boundaries and the seam between the appends, against a regenerated copy.
        const start = first - 100;
        const end = first + MiB + 99;
        const expected = await rangeDigest([() => generated(first, 42), () => generated(largeBytes - first, 4242, undefined, 256 * 1024)], start, end);
        assert.deepEqual(await hashStream(await store.read(digest, { start, end })), {
          digest: expected,
          size: end - start + 1,
        });
      });
    });
  });
}
