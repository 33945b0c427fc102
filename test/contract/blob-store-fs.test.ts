import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { digestOf } from '../../src/domain/digest.ts';
import { SYNC_EVERY } from '../../src/storage/fs/file-appender.ts';
import { FsBlobStore, SMALL_READ_MAX } from '../../src/storage/fs/fs-blob-store.ts';
import { blobStoreContract } from './blob-store.contract.ts';

blobStoreContract('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-blobs-'));
  const store = new FsBlobStore(root);
  await store.init();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe('FsBlobStore descriptors', () => {
  /** This process's open descriptors that point under `dir`. */
  const openUnder = (dir: string) =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false; // closed since the listing
      }
    }).length;

  it('keeps one descriptor per blob directory, none per upload, and closes them', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-fds-'));
    const store = new FsBlobStore(root);
    await store.init();
    try {
      const dirs = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const data = Buffer.from(`blob ${i}`);
        const digest = digestOf(data);
        dirs.add(digest.slice(7, 9));
        await store.uploads.create(`u${i}`);
        // Every other one as the last append before its commit (synced while still open).
        await store.uploads.append(`u${i}`, 0, Readable.from([data]), undefined, { last: i % 2 === 0 });
        await store.uploads.commit(`u${i}`, digest);
        assert.deepEqual(Buffer.concat(await (await store.read(digest)).toArray()), data);
      }
      assert.equal(openUnder(root), dirs.size);
    } finally {
      await store.close();
      assert.equal(openUnder(root), 0);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('FsBlobStore uploads whose background flush fails', () => {
  // Linux reports a write-back error to one fsync per descriptor only: the fsync at commit (on a
  // new descriptor) would succeed over bytes that never reached the disk.
  const eio = () => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  let failing = false;
  async function storeWithFlush() {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-eio-'));
    const store = new FsBlobStore(root, { flush: async () => { if (failing) throw eio(); } });
    await store.init();
    return { store, done: async () => { await store.close(); await rm(root, { recursive: true, force: true }); } };
  }
  const big = Buffer.alloc(SYNC_EVERY + 1024, 9); // crosses a flush boundary

  for (const last of [false, true]) {
    it(`an append ${last ? 'that commits next ' : ''}fails with the flush's error and the upload is gone`, async () => {
      const { store, done } = await storeWithFlush();
      try {
        failing = true;
        await store.uploads.create('u');
        await assert.rejects(store.uploads.append('u', 0, Readable.from([big]), undefined, { last }), { code: 'EIO' });
        assert.equal(await store.uploads.size('u'), undefined);
        await assert.rejects(store.uploads.commit('u', digestOf(big)), { code: 'BLOB_UPLOAD_UNKNOWN' });
        assert.equal(await store.stat(digestOf(big)), undefined);
      } finally {
        failing = false;
        await done();
      }
    });
  }

  it('a flush that fails after its append answered removes the upload: its commit fails', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-eio-'));
    let fail: ((err: Error) => void) | undefined;
    const lost: string[] = [];
    const store = new FsBlobStore(root, {
      flush: () => new Promise<void>((_resolve, reject) => { fail = reject; }),
      uploadLost: (id, err) => lost.push(`${id} ${(err as NodeJS.ErrnoException).code}`),
    });
    await store.init();
    try {
      await store.uploads.create('u');
      assert.equal(await store.uploads.append('u', 0, Readable.from([big])), big.length); // a PATCH answered 202
      assert.ok(fail, 'a background flush is running');
      fail(eio());
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(lost, ['u EIO'], 'the owner is told (the server logs it)');
      await assert.rejects(store.uploads.commit('u', digestOf(big)), { code: 'BLOB_UPLOAD_UNKNOWN' });
      assert.equal(await store.stat(digestOf(big)), undefined);
    } finally {
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a healthy flush changes nothing', async () => {
    const { store, done } = await storeWithFlush();
    try {
      await store.uploads.create('u');
      assert.equal(await store.uploads.append('u', 0, Readable.from([big])), big.length);
      await store.uploads.commit('u', digestOf(big));
      assert.equal((await store.stat(digestOf(big)))?.size, big.length);
    } finally {
      await done();
    }
  });
});

describe('FsBlobStore reads', () => {
  /** A store with one blob of `size` bytes, then its file cut to `keep` bytes (damaged on disk). */
  async function damaged(size: number, keep: number) {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-short-'));
    const store = new FsBlobStore(root);
    await store.init();
    const data = Buffer.alloc(size, 5);
    const digest = digestOf(data);
    await store.uploads.create('u');
    await store.uploads.append('u', 0, Readable.from([data]));
    await store.uploads.commit('u', digest);
    await truncate(store.pathOf(digest), keep);
    return { store, digest, done: async () => { await store.close(); await rm(root, { recursive: true, force: true }); } };
  }

  for (const size of [100, SMALL_READ_MAX + 1000]) {
    it(`a ${size > SMALL_READ_MAX ? 'large' : 'small'} blob file shorter than the range asked fails the read, never ends short`, async () => {
      const { store, digest, done } = await damaged(size, size - 10);
      try {
        await assert.rejects(async () => (await store.read(digest, { start: 0, end: size - 1 })).toArray(), /ended before/);
        // What is there still reads.
        assert.equal(Buffer.concat(await (await store.read(digest, { start: 0, end: size - 11 })).toArray()).length, size - 10);
      } finally {
        await done();
      }
    });
  }
});
