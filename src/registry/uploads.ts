import { randomUUID, type Hash } from 'node:crypto';
import { Transform, Writable, type Readable } from 'node:stream';
import { createDigester, digestAlgorithm, type Digest } from '../domain/digest.ts';
import { RegistryError } from '../domain/errors.ts';
import { parseRepositoryName } from '../domain/names.ts';
import type { ImageRecord, UploadRecord } from '../metadata/metadata-store.ts';
import { pump } from '../storage/pump.ts';
import { CONFIG_CACHE_ENTRY_BYTES, type ConfigCache, mayBeConfig } from './config-cache.ts';
import type { RegistryDeps } from './deps.ts';
import type { Repositories } from './repositories.ts';

export interface UploadState {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

/** A chunk's declared position, from `Content-Range: <start>-<end>` (inclusive). */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface PushContext {
  actor: string;
  /** Whether a missing project or repo may be created by this push. */
  mayCreate: boolean;
}

/** Running sha256 of an upload, kept between chunks so finishing does not re-read the bytes. */
interface RunningHash {
  hash: Hash;
  offset: number;
  /** The bytes of a write that starts the blob and may be a small config (see ConfigCache). */
  head?: Buffer[];
  headBytes: number;
}

/** A sink that only hashes what it is given: re-reading staged bytes to rebuild a hash. */
function hashingSink(hash: Hash): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done();
    },
  });
}

/** Hashes what passes through into `running`, keeping its head while it may be a small config. */
function hashingStream(running: RunningHash): Transform {
  return new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc, done) {
      running.hash.update(chunk);
      if (running.head) {
        if ((running.headBytes === 0 && !mayBeConfig(chunk)) || running.headBytes + chunk.length > CONFIG_CACHE_ENTRY_BYTES) {
          running.head = undefined;
        } else {
          running.head.push(chunk);
          running.headBytes += chunk.length;
        }
      }
      done(null, chunk);
    },
  });
}

/**
 * Running hashes kept for uploads in progress. Past it the least recently written is dropped: an
 * upload a client left open would otherwise hold its hash until the process ends, and one that
 * does go on rebuilds its hash from the staged bytes.
 */
export const RUNNING_HASHES_MAX = 10_000;

/**
 * Blob uploads: monolithic, chunked, resumable, cross-repository mount. The staged bytes are the
 * truth for an upload's offset; the running hash is a per-process cache rebuilt from them when
 * missing (after a restart, or when another node took the previous chunk).
 */
export class Uploads {
  private readonly hashes = new Map<string, RunningHash>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: RegistryDeps,
    private readonly repositories: Repositories,
    /** Given the bytes of small JSON blobs as they are committed, for the manifest PUT that follows. */
    private readonly configs?: ConfigCache,
    private readonly runningHashesMax = RUNNING_HASHES_MAX,
  ) {}

  /** Opens a new upload session in the repository. */
  async start(name: string, ctx: PushContext): Promise<UploadState> {
    const image = await this.repositories.ensureForPush(name, ctx.actor, ctx.mayCreate);
    const id = randomUUID();
    const now = this.deps.now();
    await this.deps.blobs.uploads.create(id);
    await this.deps.metadata.uploads.create({ id, imageId: image.id, createdAt: now, updatedAt: now });
    return { id, offset: 0 };
  }

  /**
   * Links `digest` from repository `from` into `name` when it is there and `mayReadSource`
   * allows; false when the mount cannot be done (the caller then starts a normal upload).
   */
  async mount(name: string, digest: Digest, from: string, ctx: PushContext, mayReadSource: (from: string) => Promise<boolean>): Promise<boolean> {
    let source: ImageRecord | undefined;
    try {
      source = await this.repositories.find(from);
    } catch {
      return false; // an invalid `from` is no reason to fail the push: fall back to an upload
    }
    if (!source || !(await this.deps.metadata.blobs.getLinked(source.id, digest))) return false;
    if (!(await mayReadSource(from))) return false;
    const target = await this.repositories.ensureForPush(name, ctx.actor, ctx.mayCreate);
    // false when GC removed the blob since: the client then uploads it.
    return this.deps.metadata.blobs.link(target.id, digest, this.deps.now());
  }

  /** A whole blob in one request (`POST ?digest=`). Nothing is left behind on failure. */
  async monolithic(name: string, digest: Digest, body: Readable, ctx: PushContext, signal?: AbortSignal): Promise<Digest> {
    const image = await this.repositories.ensureForPush(name, ctx.actor, ctx.mayCreate);
    const id = randomUUID();
    await this.deps.blobs.uploads.create(id);
    try {
      const size = await this.write(id, 0, body, signal, true);
      await this.commit(image, id, digest, size);
      return digest;
    } catch (err) {
      this.hashes.delete(id);
      await this.deps.blobs.uploads.abort(id);
      throw err;
    }
  }

  async status(name: string, id: string): Promise<UploadState> {
    await this.session(name, id);
    return { id, offset: await this.stagedSize(id) };
  }

  /** Appends a chunk. With a range, it must start where the upload ends (else 416 with the current Range). */
  async append(name: string, id: string, body: Readable, range: ChunkRange | undefined, contentLength: number | undefined, signal?: AbortSignal): Promise<UploadState> {
    await this.session(name, id);
    return this.locked(id, async () => {
      const offset = await this.stagedSize(id);
      if (range) checkRange(range, offset, contentLength);
      const size = await this.write(id, offset, body, signal);
      // The session may have expired (and its bytes been removed) while a long chunk was written:
      // then the chunk is not accepted, so no client is told 202 for an upload that is gone.
      if (!(await this.deps.metadata.uploads.touch(id, this.deps.now()))) {
        throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'the upload session expired while this chunk was being written', { id });
      }
      return { id, offset: size };
    });
  }

  /** Completes the upload with an optional last chunk; verifies the digest before the blob appears. */
  async finish(name: string, id: string, digest: Digest, body: Readable | undefined, range: ChunkRange | undefined, contentLength: number | undefined, signal?: AbortSignal): Promise<Digest> {
    const { image } = await this.session(name, id);
    return this.locked(id, async () => {
      let size = await this.stagedSize(id);
      if (body) {
        if (range) checkRange(range, size, contentLength);
        size = await this.write(id, size, body, signal, true);
      }
      try {
        // The session row goes in the link's transaction.
        await this.commit(image, id, digest, size, { session: true });
      } catch (err) {
        if (err instanceof RegistryError && (err.code === 'DIGEST_INVALID' || err.code === 'DENIED')) await this.discard(id);
        throw err;
      }
      return digest;
    });
  }

  /** Cancels the upload and removes its bytes. */
  async cancel(name: string, id: string): Promise<void> {
    await this.locked(id, async () => {
      // Checked once the operations before it settled: a PUT that completed the upload meanwhile
      // leaves nothing to cancel, and the client must not be told its cancel succeeded.
      await this.session(name, id);
      await this.discard(id);
    });
  }

  private async discard(id: string): Promise<void> {
    this.hashes.delete(id);
    await this.deps.blobs.uploads.abort(id);
    await this.deps.metadata.uploads.delete(id);
  }

  /** The upload record and its image, checked to be `name` (one lookup); BLOB_UPLOAD_UNKNOWN otherwise. Throws NAME_INVALID. */
  private async session(name: string, id: string): Promise<{ upload: UploadRecord; image: ImageRecord }> {
    parseRepositoryName(name);
    const found = /^[0-9a-f-]{36}$/.test(id) ? await this.deps.metadata.uploads.findInImage(name, id) : undefined;
    if (!found) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id: id.slice(0, 100) });
    return found;
  }

  private async stagedSize(id: string): Promise<number> {
    const size = await this.deps.blobs.uploads.size(id);
    if (size === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload data is gone', { id });
    return size;
  }

  /**
   * Streams `body` into the staged upload at `offset`, hashing as it goes; returns the new size.
   * `committing`: the blob is committed right after, in the same request, so a small config's
   * bytes may be kept for it. Never between requests: an upload left open would hold them.
   */
  private async write(id: string, offset: number, body: Readable, signal: AbortSignal | undefined, committing = false): Promise<number> {
    const running = await this.runningHash(id, offset);
    running.head = committing && offset === 0 && this.configs ? [] : undefined;
    running.headBytes = 0;
    this.hashes.delete(id); // until the write is known complete, the running hash is not trusted
    const hasher = hashingStream(running);
    // pump() carries a failing body (client gone) into the hasher and so into the store's write,
    // and a failing write back into the body. Both are awaited, failed or not, so no byte of this
    // write is still in flight when the lock lets the next one read the staged size.
    const [stored, piped] = await Promise.allSettled([this.deps.blobs.uploads.append(id, offset, hasher, signal, { last: committing }), pump(body, hasher)]);
    if (stored.status === 'rejected' || piped.status === 'rejected') throw firstCause(stored, piped);
    running.offset = stored.value;
    this.hashes.set(id, running); // last in the map's order: the most recently written
    if (this.hashes.size > this.runningHashesMax) this.hashes.delete(this.hashes.keys().next().value!);
    return stored.value;
  }

  /** The sha256 state at `offset`, from the cache or by re-reading the staged bytes. */
  private async runningHash(id: string, offset: number): Promise<RunningHash> {
    const cached = this.hashes.get(id);
    if (cached && cached.offset === offset) return cached;
    const hash = createDigester('sha256');
    if (offset > 0) await pump(this.deps.blobs.uploads.read(id), hashingSink(hash));
    return { hash, offset, headBytes: 0 };
  }

  /**
   * Verifies the digest, then makes the staged upload `id` the blob `digest` of the image. With
   * `session`, `id` is an upload session whose row is deleted with the link, in one transaction.
   */
  private async commit(image: ImageRecord, id: string, digest: Digest, size: number, opts: { session: boolean } = { session: false }): Promise<void> {
    let actual: string;
    let head: Buffer[] | undefined;
    if (digestAlgorithm(digest) === 'sha256') {
      const running = await this.runningHash(id, size);
      actual = `sha256:${running.hash.digest('hex')}`;
      if (running.headBytes === size) head = running.head;
    } else {
      const hash = createDigester(digestAlgorithm(digest));
      await pump(this.deps.blobs.uploads.read(id), hashingSink(hash));
      actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
    }
    this.hashes.delete(id);
    if (actual !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
    }
    // The row first: it protects the digest from GC (which deletes bytes before rows), so the
    // bytes committed next cannot be deleted by a GC run that already chose this digest.
    // Quotas: an early check so an over-quota blob is normally not stored at all; `link` below
    // re-checks under the project/repo lock (quota-store.ts), which is what holds under concurrency.
    await this.deps.metadata.quotas.check(image.id, { blobs: [{ digest, size }] });
    const now = this.deps.now();
    await this.deps.metadata.blobs.putBlob(digest, size, now);
    await this.deps.blobs.uploads.commit(id, digest);
    if (!(await this.deps.metadata.blobs.link(image.id, digest, now, opts.session ? id : undefined))) {
      throw new RegistryError('UNAVAILABLE', `blob ${digest} was garbage-collected while it was uploaded; retry the upload`, { digest });
    }
    // The bytes hashed into `actual`, which matched: safe to hand out under their digest.
    if (head) this.configs?.remember(digest, head);
  }

  /** Runs `fn` after every earlier operation on the same upload in this process has settled. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}

function checkRange(range: ChunkRange, offset: number, contentLength: number | undefined): void {
  if (range.start !== offset) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `chunk starts at ${range.start} but the upload has ${offset} bytes`, undefined, {
      status: 416,
      headers: { range: `0-${Math.max(0, offset - 1)}` },
    });
  }
  if (contentLength !== undefined && range.end - range.start + 1 !== contentLength) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range does not match Content-Length', undefined, {
      status: 416,
      headers: { range: `0-${Math.max(0, offset - 1)}` },
    });
  }
}

/**
 * The error to report for a failed write: the store's (BLOB_UPLOAD_INVALID, a disk error, or the
 * body's error carried through the hasher), unless it only saw the hasher close early.
 */
function firstCause(...results: PromiseSettledResult<unknown>[]): unknown {
  const reasons = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  return reasons.find((e) => (e as NodeJS.ErrnoException)?.code !== 'ERR_STREAM_PREMATURE_CLOSE') ?? reasons[0];
}
