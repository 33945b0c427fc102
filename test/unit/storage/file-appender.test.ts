import assert from 'node:assert/strict';
import { fstatSync, openSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileAppender } from '../../../src/storage/fs/file-appender.ts';

describe('FileAppender', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-appender-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('appends from its position, small writes and large ones', async () => {
    const path = join(dir, 'append');
    await writeFile(path, 'head-');
    const out = new FileAppender(openSync(path, 'r+'), 5);
    const large = Buffer.alloc(3 * 1024 * 1024, 'x');
    out.write(Buffer.from('small-'));
    out.write(large);
    out.end(Buffer.from('-tail'));
    await new Promise((resolve) => out.once('close', resolve));
    assert.equal(out.bytesWritten, 6 + large.length + 5);
    assert.equal((await readFile(path)).toString(), `head-small-${large.toString()}-tail`);
  });

  it('closes only after the write in flight when destroyed: the size is final at close', async () => {
    const path = join(dir, 'destroyed');
    await writeFile(path, '');
    const out = new FileAppender(openSync(path, 'r+'), 0);
    out.on('error', () => {});
    const chunk = Buffer.alloc(16 * 1024 * 1024, 1); // written on the thread pool, taking a while
    out.write(chunk);
    out.destroy(new Error('client went away'));
    await new Promise((resolve) => out.once('close', resolve));
    const atClose = statSync(path).size;
    assert.equal(atClose, out.bytesWritten);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(statSync(path).size, atClose);
  });

  it('closes its descriptor also when a background flush is running as the stream ends', async () => {
    const path = join(dir, 'flushing');
    await writeFile(path, '');
    const fd = openSync(path, 'r+');
    const out = new FileAppender(fd, 0, { syncEvery: 1024 }); // a flush starts with the first KiB crossed
    const data = Buffer.alloc(4 * 1024 * 1024, 7);
    out.end(data);
    await new Promise((resolve) => out.once('close', resolve));
    assert.equal(out.bytesWritten, data.length);
    assert.deepEqual(await readFile(path), data);
    const deadline = Date.now() + 10_000;
    while (isOpen(fd) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(isOpen(fd), false, 'the descriptor is closed after the flush');
  });

  it('syncs at the end when asked, and says so; not when the stream fails', async () => {
    for (const syncAtEnd of [false, true]) {
      const path = join(dir, `sync-${syncAtEnd}`);
      await writeFile(path, '');
      const out = new FileAppender(openSync(path, 'r+'), 0, { syncAtEnd });
      out.end(Buffer.from('bytes'));
      await new Promise((resolve) => out.once('close', resolve));
      assert.equal(out.synced, syncAtEnd);
    }
    const path = join(dir, 'sync-failed');
    await writeFile(path, '');
    const out = new FileAppender(openSync(path, 'r+'), 0, { syncAtEnd: true });
    out.on('error', () => {});
    out.write(Buffer.from('partial'));
    out.destroy(new Error('client went away'));
    await new Promise((resolve) => out.once('close', resolve));
    assert.equal(out.synced, false);
  });

  describe('when a background flush fails', () => {
    const eio = () => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    /** A flush that fails the first time (the background one) and succeeds after, as fdatasync does once it has reported an error. */
    const failingOnce = () => {
      let calls = 0;
      return { flush: async () => { if (calls++ === 0) throw eio(); }, calls: () => calls };
    };

    for (const syncAtEnd of [false, true]) {
      it(`fails the stream with its error, also where the last fdatasync would succeed (syncAtEnd ${syncAtEnd})`, async () => {
        const path = join(dir, `flush-failed-${syncAtEnd}`);
        await writeFile(path, '');
        const told: Error[] = [];
        const flushes = failingOnce();
        const out = new FileAppender(openSync(path, 'r+'), 0, { syncEvery: 1024, syncAtEnd, flush: flushes.flush, onFlushError: (err) => told.push(err) });
        const failed = new Promise<Error>((resolve) => out.once('error', resolve));
        out.write(Buffer.alloc(2048, 1)); // crosses the first KiB: a background flush, which fails
        await new Promise((resolve) => setTimeout(resolve, 20));
        out.end(Buffer.alloc(10, 2));
        assert.equal(((await failed) as NodeJS.ErrnoException).code, 'EIO');
        assert.equal(out.synced, false);
        assert.equal(told.length, 1);
        assert.equal(flushes.calls(), 1, 'no fdatasync at the end on a descriptor that already reported an error');
      });
    }

    it('tells onFlushError when the flush fails after the stream closed', async () => {
      const path = join(dir, 'flush-failed-late');
      await writeFile(path, '');
      let fail!: (err: Error) => void;
      const told: Error[] = [];
      const out = new FileAppender(openSync(path, 'r+'), 0, {
        syncEvery: 1024,
        flush: () => new Promise<void>((_resolve, reject) => { fail = reject; }),
        onFlushError: (err) => told.push(err),
      });
      out.end(Buffer.alloc(2048, 1));
      await new Promise((resolve) => out.once('close', resolve)); // the stream is done, its flush is not
      assert.equal(told.length, 0);
      fail(eio());
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(told.map((e) => (e as NodeJS.ErrnoException).code), ['EIO']);
    });
  });
});

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}
