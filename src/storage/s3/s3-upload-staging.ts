import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { addAbortSignal, Readable } from 'node:stream';
import type { Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { UploadStaging } from '../blob-store.ts';
import { isNotFound, type S3Context } from './s3-context.ts';

/** S3's smallest part (every part of a multipart upload but the last). */
export const MIN_CHUNK_BYTES = 5 * 1024 * 1024;
/** UploadPartCopy requests in flight while a commit assembles a blob. */
const COPY_CONCURRENCY = 8;

interface Chunk {
  key: string;
  index: number;
  size: number;
}

interface StagedState {
  /** Contiguous chunks from index 0, in order. */
  chunks: Chunk[];
  size: number;
  /** Every key under the upload's prefix, chunks past a gap included: what abort and commit remove. */
  keys: string[];
}

const CHUNK_NAME = /^\d{6}$/;

/**
 * Uploads staged in S3, so any node can continue an upload another node started: the state
 * lives in the bucket only. An upload `id` is the marker object `uploads/<id>/info` plus chunk
 * objects `uploads/<id>/000000`, `000001`, ...: every chunk but the last holds at least
 * `chunkBytes` (>= 5 MiB) and the last may be partial. The staged size is the sum of the chunks,
 * found with one ListObjectsV2.
 *
 * An append buffers at most one chunk in memory: it refills the partial last chunk (re-reading
 * it, less than one chunk) with the new bytes and writes each chunk as soon as it is full, the
 * rest as the new last chunk when the request body ends. Every PUT replaces one whole object, so
 * a failed append leaves a consistent prefix of what was sent.
 *
 * Commit assembles the chunks into the content-addressed key with a multipart upload of
 * server-side part copies (UploadPartCopy, no bytes through the node), or one CopyObject for a
 * single chunk; the blob appears only when CompleteMultipartUpload succeeds.
 */
export class S3UploadStaging implements UploadStaging {
  constructor(
    private readonly s3: S3Context,
    private readonly blobKey: (digest: Digest) => string,
    private readonly chunkBytes: number,
  ) {
    if (chunkBytes < MIN_CHUNK_BYTES) throw new Error(`S3 chunk size must be at least ${MIN_CHUNK_BYTES} bytes`);
  }

  private prefixOf(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id: id.slice(0, 100) });
    return `${this.s3.prefix}uploads/${id}/`;
  }

  private chunkKey(id: string, index: number): string {
    return `${this.prefixOf(id)}${String(index).padStart(6, '0')}`;
  }

  /** The upload's chunks; undefined when its marker is missing (never created, committed or aborted). */
  private async state(id: string): Promise<StagedState | undefined> {
    const prefix = this.prefixOf(id);
    let marker = false;
    const all: Chunk[] = [];
    const keys: string[] = [];
    for await (const object of this.s3.listObjects(prefix)) {
      const key = object.Key!;
      keys.push(key);
      const name = key.slice(prefix.length);
      if (name === 'info') marker = true;
      else if (CHUNK_NAME.test(name)) all.push({ key, index: Number(name), size: object.Size ?? 0 });
    }
    if (!marker) return undefined;
    all.sort((a, b) => a.index - b.index);
    const chunks: Chunk[] = [];
    for (const chunk of all) {
      if (chunk.index !== chunks.length) break; // a gap: whatever follows it was never part of the upload
      chunks.push(chunk);
    }
    return { chunks, size: chunks.reduce((n, c) => n + c.size, 0), keys };
  }

  async create(id: string): Promise<void> {
    await this.s3.client.send(new PutObjectCommand({ Bucket: this.s3.bucket, Key: `${this.prefixOf(id)}info`, Body: '', ContentLength: 0 }));
  }

  async size(id: string): Promise<number | undefined> {
    return (await this.state(id))?.size;
  }

  async append(id: string, offset: number, data: Readable, signal?: AbortSignal): Promise<number> {
    let state: StagedState | undefined;
    try {
      state = await this.state(id);
      if (!state) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
      if (state.size !== offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `append at ${offset} but the upload has ${state.size} bytes`, { id });
    } catch (err) {
      data.destroy(); // whoever feeds `data` learns (as a premature close) that the write will not happen
      throw err;
    }
    if (signal) addAbortSignal(signal, data);

    const buffer = Buffer.allocUnsafe(this.chunkBytes);
    let filled = 0;
    let index = state.chunks.length;
    let fresh = 0; // bytes in `buffer` that are not stored yet
    const last = state.chunks.at(-1);
    try {
      if (last && last.size < this.chunkBytes) {
        // Refill the partial last chunk: it is rewritten whole, with the new bytes after it.
        index = last.index;
        let stream: Readable;
        try {
          stream = await this.getStream(last.key, signal);
        } catch (err) {
          throw await this.explain(id, state, err);
        }
        for await (const piece of stream) {
          (piece as Buffer).copy(buffer, filled);
          filled += (piece as Buffer).length;
        }
        if (filled !== last.size) throw new Error(`chunk ${last.key} changed while it was read`);
      }
      let total = offset;
      for await (const piece of data as AsyncIterable<Buffer>) {
        let at = 0;
        while (at < piece.length) {
          const n = Math.min(piece.length - at, this.chunkBytes - filled);
          piece.copy(buffer, filled, at, at + n);
          filled += n;
          fresh += n;
          at += n;
          if (filled === this.chunkBytes) {
            await this.putChunk(id, index, buffer.subarray(0, filled), signal);
            total += fresh;
            index++;
            filled = 0;
            fresh = 0;
          }
        }
      }
      if (fresh > 0) {
        await this.putChunk(id, index, buffer.subarray(0, filled), signal);
        total += fresh;
      }
      return total;
    } catch (err) {
      data.destroy();
      throw err;
    }
  }

  private async putChunk(id: string, index: number, bytes: Buffer, signal?: AbortSignal): Promise<void> {
    await this.s3.client.send(
      new PutObjectCommand({ Bucket: this.s3.bucket, Key: this.chunkKey(id, index), Body: bytes, ContentLength: bytes.length }),
      signal ? { abortSignal: signal } : {},
    );
  }

  private async getStream(key: string, signal?: AbortSignal): Promise<Readable> {
    const res = await this.s3.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key }), signal ? { abortSignal: signal } : {});
    return res.Body as Readable;
  }

  read(id: string): Readable {
    const self = this;
    return Readable.from(
      (async function* () {
        const state = await self.state(id);
        if (!state) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
        for (const chunk of state.chunks) {
          if (chunk.size === 0) continue;
          let stream: Readable;
          try {
            stream = await self.getStream(chunk.key);
          } catch (err) {
            throw await self.explain(id, state, err);
          }
          yield* stream as AsyncIterable<Buffer>;
        }
      })(),
      { objectMode: false },
    );
  }

  async commit(id: string, digest: Digest): Promise<void> {
    const key = this.blobKey(digest);
    const state = await this.state(id);
    if (!state) {
      // A retried commit (another node, or a lost reply) finds its work done.
      if (await this.exists(key)) return;
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    }
    // Content-addressed: when the blob is there, these bytes are already stored (the caller
    // verified the digest), and a reader of the existing object keeps reading it undisturbed.
    if (!(await this.exists(key))) {
      try {
        if (state.chunks.length === 0) {
          await this.s3.client.send(new PutObjectCommand({ Bucket: this.s3.bucket, Key: key, Body: '', ContentLength: 0 }));
        } else if (state.chunks.length === 1) {
          await this.s3.client.send(new CopyObjectCommand({ Bucket: this.s3.bucket, Key: key, CopySource: this.s3.copySource(state.chunks[0]!.key) }));
        } else {
          await this.assemble(key, state.chunks);
        }
      } catch (err) {
        if (!(await this.vanished(id, state, err))) throw err;
        // Taken meanwhile: by a commit of the same upload elsewhere (the work is done) or an abort.
        if (await this.exists(key)) return;
        throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload data is gone', { id });
      }
    }
    await this.s3.deleteKeys(state.keys);
  }

  /**
   * Whether `err` came from the upload's objects disappearing since `seen` was listed (an abort,
   * a cancel, a GC sweep, or a commit elsewhere took them): its marker or a chunk is gone.
   */
  private async vanished(id: string, seen: StagedState, err: unknown): Promise<boolean> {
    if (!isNotFound(err)) return false;
    const now = await this.state(id).catch(() => seen);
    if (!now) return true;
    const present = new Set(now.chunks.map((c) => c.key));
    return seen.chunks.some((c) => !present.has(c.key));
  }

  /** BLOB_UPLOAD_UNKNOWN for an error caused by the upload vanishing (see vanished), else `err`. */
  private async explain(id: string, seen: StagedState, err: unknown): Promise<unknown> {
    return (await this.vanished(id, seen, err)) ? new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload data is gone', { id }) : err;
  }

  /** Copies the chunks server-side into one multipart upload on `key` and completes it. */
  private async assemble(key: string, chunks: Chunk[]): Promise<void> {
    const { UploadId } = await this.s3.client.send(new CreateMultipartUploadCommand({ Bucket: this.s3.bucket, Key: key }));
    if (!UploadId) throw new Error('S3 CreateMultipartUpload returned no upload id');
    try {
      const etags: string[] = new Array(chunks.length);
      let next = 0;
      const worker = async () => {
        while (next < chunks.length) {
          const i = next++;
          const res = await this.s3.client.send(
            new UploadPartCopyCommand({ Bucket: this.s3.bucket, Key: key, UploadId, PartNumber: i + 1, CopySource: this.s3.copySource(chunks[i]!.key) }),
          );
          const etag = res.CopyPartResult?.ETag;
          if (!etag) throw new Error(`S3 UploadPartCopy of part ${i + 1} returned no ETag`);
          etags[i] = etag;
        }
      };
      await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, chunks.length) }, worker));
      await this.s3.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.s3.bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err) {
      await this.s3.client.send(new AbortMultipartUploadCommand({ Bucket: this.s3.bucket, Key: key, UploadId })).catch(() => {});
      throw err;
    }
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.s3.client.send(new HeadObjectCommand({ Bucket: this.s3.bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async abort(id: string): Promise<void> {
    const keys: string[] = [];
    for await (const object of this.s3.listObjects(this.prefixOf(id))) keys.push(object.Key!);
    await this.s3.deleteKeys(keys);
  }

  /** Every upload with anything staged, marker or not (so expiry also removes orphaned chunks). */
  async *list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    const prefix = `${this.s3.prefix}uploads/`;
    const latest = new Map<string, Date>();
    for await (const object of this.s3.listObjects(prefix)) {
      const id = object.Key!.slice(prefix.length).split('/')[0]!;
      const at = object.LastModified ?? new Date(0);
      const seen = latest.get(id);
      if (!seen || seen < at) latest.set(id, at);
    }
    for (const [id, modifiedAt] of latest) yield { id, modifiedAt };
  }
}
