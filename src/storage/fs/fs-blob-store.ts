import { closeSync, createReadStream, fstatSync, fsync, mkdirSync, open as openFd, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestAlgorithm, digestHex, isDigest, type Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import { FileAppender } from './file-appender.ts';
import { FileReadStream } from './file-read-stream.ts';
import { SyncWhileFast } from './sync-while-fast.ts';
import type { AppendOptions, BlobStat, BlobStore, ByteRange, UploadStaging } from '../blob-store.ts';
import { pump } from '../pump.ts';

const STREAM_CHUNK = 1024 * 1024;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

const fsyncFd = promisify(fsync);
const openAsync = promisify(openFd);

/**
 * fsyncs the file at `path`.
 *
 * The upload path makes the short metadata calls (open of an existing file, close, stat, rename,
 * mkdir, and mostly the creation of a file: see FsUploadStaging.create) synchronously, and only
 * what can take long on libuv's thread pool: fsyncs and large data writes (FileAppender). A short
 * call takes a few microseconds, while handing it to the pool and back cost 40-120 us of
 * main-thread time on the benchmark machine (thread wake-ups): a quarter of a small push's CPU.
 */
async function fsyncPath(path: string): Promise<void> {
  const fd = openSync(path, 'r+');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** Opens a staged upload for writing; BLOB_UPLOAD_UNKNOWN when it does not exist. */
function openStaged(path: string, id: string): number {
  try {
    return openSync(path, 'r+');
  } catch (err) {
    if (isMissing(err)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    throw err;
  }
}

/** A file creation slower than this counts as slow (SyncWhileFast): see FsUploadStaging.create. */
const SLOW_CREATE_MS = 0.15;

/** Blobs (or ranges of them) up to this size are read whole: see readSmall. */
export const SMALL_READ_MAX = 64 * 1024;
/** A small read (open, read, close) slower than this counts as slow (SyncWhileFast). */
const SLOW_SMALL_READ_MS = 0.25;

/**
 * The bytes of the blob at `path` (or of `range`) when they are at most SMALL_READ_MAX, read
 * synchronously; undefined for more. A config or a small layer costs an open, a read and a close,
 * each a few microseconds from the page cache: less than one trip through libuv's thread pool,
 * of which a streamed download makes two (open, close). BLOB_UNKNOWN when the file is missing.
 */
function readSmall(path: string, digest: Digest, range: ByteRange | undefined): Readable | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isMissing(err)) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    throw err;
  }
  try {
    const start = range?.start ?? 0;
    const length = (range?.end ?? fstatSync(fd).size - 1) - start + 1;
    if (length > SMALL_READ_MAX) return undefined;
    const bytes = Buffer.allocUnsafe(Math.max(0, length));
    for (let at = 0; at < bytes.length; ) {
      const n = readSync(fd, bytes, at, bytes.length - at, start + at);
      if (n === 0) throw new Error('the file ended before the requested range did');
      at += n;
    }
    const stream = new Readable({ read() {} });
    stream.push(bytes);
    stream.push(null);
    return stream;
  } finally {
    closeSync(fd);
  }
}

/** Staged uploads whose last append synced its bytes (FileAppender's syncAtEnd), at most this many. */
const SYNCED_MAX = 10_000;

export interface FsBlobStoreOptions {
  /** Told when an upload is removed because a flush of its bytes to the disk failed (see FsUploadStaging.untrust). */
  uploadLost?: (id: string, err: Error) => void;
  /** An upload's background flushes (FileAppender's default when undefined); tests fail it. */
  flush?: (fd: number) => Promise<void>;
}

/**
 * Blobs as files under `root/blobs/<alg>/<2 hex>/<hex>`, uploads under `root/uploads/<id>`.
 * A blob file appears only by rename after fsync, so a visible blob is always complete.
 */
export class FsBlobStore implements BlobStore {
  readonly uploads: UploadStaging;
  private readonly blobsDir: string;
  /**
   * The blob directories made or found so far, each with a descriptor kept open to fsync it after
   * a rename into it (one open and close less per blob). At most 256 per digest algorithm.
   */
  private readonly dirs = new Map<string, number>();
  /** Small blobs are read whole on the event loop while that is fast: see readSmall. */
  private readonly smallReads = new SyncWhileFast(SLOW_SMALL_READ_MS);

  constructor(root: string, options: FsBlobStoreOptions = {}) {
    this.blobsDir = join(root, 'blobs');
    this.uploads = new FsUploadStaging(join(root, 'uploads'), (digest) => this.pathOf(digest), (dir) => this.openDirSync(dir), options);
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await (this.uploads as FsUploadStaging).init();
  }

  pathOf(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.blobsDir, digestAlgorithm(digest), hex.slice(0, 2), hex);
  }

  /** Makes `dir` when missing; returns a descriptor of it, kept until close(). */
  private openDirSync(dir: string): number {
    let fd = this.dirs.get(dir);
    if (fd === undefined) {
      mkdirSync(dir, { recursive: true });
      fd = openSync(dir, 'r');
      this.dirs.set(dir, fd);
    }
    return fd;
  }

  async close(): Promise<void> {
    for (const fd of this.dirs.values()) closeSync(fd);
    this.dirs.clear();
  }

  async stat(digest: Digest): Promise<BlobStat | undefined> {
    try {
      const s = await stat(this.pathOf(digest));
      return { size: s.size };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async storedAt(digest: Digest): Promise<Date | undefined> {
    try {
      return (await stat(this.pathOf(digest))).mtime;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const path = this.pathOf(digest);
    if (this.smallReads.runSync()) {
      const small = this.smallReads.time(() => readSmall(path, digest, range));
      if (small) return small;
    }
    // Open first so a missing blob is a clean error before any byte is sent.
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
      throw err;
    }
    return new FileReadStream(handle, range?.start, range?.end, signal);
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.pathOf(digest));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<Digest> {
    for (const algorithm of await readdirOrEmpty(this.blobsDir)) {
      for (const prefix of await readdirOrEmpty(join(this.blobsDir, algorithm))) {
        for (const hex of await readdirOrEmpty(join(this.blobsDir, algorithm, prefix))) {
          const digest = `${algorithm}:${hex}`;
          if (isDigest(digest)) yield digest;
        }
      }
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

class FsUploadStaging implements UploadStaging {
  /** Uploads whose bytes were synced by their last append; commit then skips that fsync. */
  private readonly synced = new Set<string>();
  private readonly creates = new SyncWhileFast(SLOW_CREATE_MS);

  constructor(
    private readonly dir: string,
    private readonly blobPath: (digest: Digest) => string,
    /** Makes a blob directory when missing; returns a descriptor of it to fsync (not to close). */
    private readonly openDir: (dir: string) => number,
    private readonly options: FsBlobStoreOptions,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  private pathOf(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    return join(this.dir, id);
  }

  /**
   * Creating a file allocates an inode: a few microseconds, less than a trip through the thread
   * pool (about 110 us of stalled event loop per call on the benchmark machine), so it runs
   * synchronously. But ext4 skips inodes freed in the last 30 s one by one, and after a large
   * delete (another data dir removed, a GC run) an allocation took 300-500 us: then creates go
   * to the pool (SyncWhileFast).
   */
  async create(id: string): Promise<void> {
    const path = this.pathOf(id);
    if (this.creates.runSync()) closeSync(this.creates.time(() => openSync(path, 'wx')));
    else closeSync(await openAsync(path, 'wx'));
  }

  async size(id: string): Promise<number | undefined> {
    return statSync(this.pathOf(id), { throwIfNoEntry: false })?.size;
  }

  async append(id: string, offset: number, data: Readable, signal?: AbortSignal, opts?: AppendOptions): Promise<number> {
    let out: FileAppender;
    this.synced.delete(id);
    try {
      const fd = openStaged(this.pathOf(id), id);
      try {
        const current = fstatSync(fd).size;
        // Writing elsewhere would leave a hole or overwrite staged bytes.
        if (current !== offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `append at ${offset} but the upload has ${current} bytes`, { id });
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      out = new FileAppender(fd, offset, { highWaterMark: STREAM_CHUNK, syncAtEnd: opts?.last === true, onFlushError: (err) => this.untrust(id, err), flush: this.options.flush });
    } catch (err) {
      data.destroy(); // whoever feeds `data` learns (as a premature close) that the write will not happen
      throw err;
    }
    // Settles after the appender closed its descriptor, so no write is in flight on failure.
    await pump(data, out, signal);
    if (out.synced) {
      this.synced.add(id);
      if (this.synced.size > SYNCED_MAX) this.synced.delete(this.synced.values().next().value!);
    }
    return offset + out.bytesWritten;
  }

  read(id: string): Readable {
    return createReadStream(this.pathOf(id), { highWaterMark: STREAM_CHUNK });
  }

  async commit(id: string, digest: Digest): Promise<void> {
    const from = this.pathOf(id);
    const to = this.blobPath(digest);
    try {
      if (!this.synced.delete(id)) await fsyncPath(from);
      const dir = this.openDir(join(to, '..'));
      // Replacing a blob (the same layer pushed twice at once, or again) frees the old copy's
      // blocks inside rename(2): for a 1 GiB blob that held the event loop a third of a second.
      // A new name is renamed on the loop: faster than a trip through the thread pool.
      if (statSync(to, { throwIfNoEntry: false })) await rename(from, to);
      else renameSync(from, to);
      await fsyncFd(dir);
    } catch (err) {
      if (!isMissing(err) || statSync(from, { throwIfNoEntry: false })) throw err;
      // A retried commit (another node, or a lost reply) finds its work done.
      if (statSync(to, { throwIfNoEntry: false })) return;
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    }
  }

  /** Off the event loop: unlinking a large staged upload frees its blocks (a third of a second per GiB). */
  async abort(id: string): Promise<void> {
    this.synced.delete(id);
    await rm(this.pathOf(id), { force: true });
  }

  /** At once, for untrust: no request may append to the file after it is found untrustworthy. */
  private remove(id: string): void {
    this.synced.delete(id);
    rmSync(this.pathOf(id), { force: true });
  }

  /**
   * A background flush of the upload failed: some of its bytes may never reach the disk, and no
   * later fsync reports that (see FileAppender), so the upload is removed. The request writing it
   * fails with the flush's error; a later one finds the upload gone (BLOB_UPLOAD_UNKNOWN), and the
   * client starts again instead of committing a blob with lost bytes.
   */
  private untrust(id: string, err: Error): void {
    try {
      this.remove(id);
    } catch {
      // The file stays, and with it the risk; GC removes it with the expired session.
    }
    try {
      this.options.uploadLost?.(id, err);
    } catch {
      // a failing log must not become an unhandled rejection in the flush's promise
    }
  }

  async *list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    for (const id of await readdirOrEmpty(this.dir)) {
      try {
        const s = await stat(join(this.dir, id));
        yield { id, modifiedAt: s.mtime };
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
  }
}
