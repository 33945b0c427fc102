import { closeSync, createReadStream, fsync, mkdirSync, open as openFd, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { digestAlgorithm, digestHex, isDigest, type Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import { FileAppender, SYNC_EVERY } from './file-appender.ts';
import { FileReadStream } from './file-read-stream.ts';
import type { BlobStat, BlobStore, ByteRange, UploadStaging } from '../blob-store.ts';
import { pump } from '../pump.ts';

const STREAM_CHUNK = 1024 * 1024;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

const fsyncFd = promisify(fsync);
const openAsync = promisify(openFd);

/**
 * fsyncs the file or directory at `path` (a directory: to persist a rename or create in it).
 *
 * The upload path calls the short metadata syscalls (open of an existing file, close, stat,
 * rename, mkdir) synchronously, and only what can take long on libuv's thread pool: fsyncs,
 * creating a file (allocating an inode took 300-500 us on the benchmark machine's ext4 after
 * many deletions) and large data writes (FileAppender). A short call takes a few microseconds,
 * while handing it to the pool and back cost 40-120 us of main-thread time there (thread
 * wake-ups): a quarter of the CPU of a small-image push.
 */
async function fsyncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  const fd = openSync(path, flags);
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Blobs as files under `root/blobs/<alg>/<2 hex>/<hex>`, uploads under `root/uploads/<id>`.
 * A blob file appears only by rename after fsync, so a visible blob is always complete.
 */
export class FsBlobStore implements BlobStore {
  readonly uploads: UploadStaging;
  private readonly blobsDir: string;
  private readonly madeDirs = new Set<string>();

  constructor(root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploads = new FsUploadStaging(join(root, 'uploads'), (digest) => this.pathOf(digest), (dir) => this.ensureDirSync(dir));
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await (this.uploads as FsUploadStaging).init();
  }

  pathOf(digest: Digest): string {
    const hex = digestHex(digest);
    return join(this.blobsDir, digestAlgorithm(digest), hex.slice(0, 2), hex);
  }

  private ensureDirSync(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    this.madeDirs.add(dir);
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
  constructor(
    private readonly dir: string,
    private readonly blobPath: (digest: Digest) => string,
    private readonly ensureDir: (dir: string) => void,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  private pathOf(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    return join(this.dir, id);
  }

  async create(id: string): Promise<void> {
    closeSync(await openAsync(this.pathOf(id), 'wx'));
  }

  async size(id: string): Promise<number | undefined> {
    return statSync(this.pathOf(id), { throwIfNoEntry: false })?.size;
  }

  async append(id: string, offset: number, data: Readable, signal?: AbortSignal): Promise<number> {
    let out: FileAppender;
    try {
      const path = this.pathOf(id);
      const current = await this.size(id);
      if (current === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
      // Writing elsewhere would leave a hole or overwrite staged bytes.
      if (current !== offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `append at ${offset} but the upload has ${current} bytes`, { id });
      out = new FileAppender(openSync(path, 'r+'), offset, SYNC_EVERY, STREAM_CHUNK);
    } catch (err) {
      data.destroy(); // whoever feeds `data` learns (as a premature close) that the write will not happen
      throw err;
    }
    // Settles after the appender closed its descriptor, so no write is in flight on failure.
    await pump(data, out, signal);
    return offset + out.bytesWritten;
  }

  read(id: string): Readable {
    return createReadStream(this.pathOf(id), { highWaterMark: STREAM_CHUNK });
  }

  async commit(id: string, digest: Digest): Promise<void> {
    const from = this.pathOf(id);
    const to = this.blobPath(digest);
    try {
      await fsyncPath(from, 'r+');
    } catch (err) {
      if (!isMissing(err)) throw err;
      // A retried commit (another node, or a lost reply) finds its work done.
      if (statSync(to, { throwIfNoEntry: false })) return;
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    }
    const dir = join(to, '..');
    this.ensureDir(dir);
    renameSync(from, to);
    await fsyncPath(dir, 'r');
  }

  async abort(id: string): Promise<void> {
    rmSync(this.pathOf(id), { force: true });
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
