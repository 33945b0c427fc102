import { addAbortSignal, Readable } from 'node:stream';
import type { Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { BlobStat, BlobStore, ByteRange, UploadStaging } from '../blob-store.ts';

/** Largest piece a read stream emits at once, so a big blob flows in bounded chunks. */
const STREAM_CHUNK = 1024 * 1024;

/** Bytes kept as the chunks they arrived in: appending never copies what is already stored. */
interface Bytes {
  chunks: Buffer[];
  size: number;
}

interface StagedUpload extends Bytes {
  modifiedAt: Date;
}

/** Streams `bytes[start..end]` (inclusive) in pieces of at most STREAM_CHUNK bytes. */
function streamOf(bytes: Bytes, range?: ByteRange): Readable {
  const start = range ? range.start : 0;
  const end = range ? Math.min(range.end, bytes.size - 1) : bytes.size - 1;
  const chunks = bytes.chunks;
  function* pieces(): Generator<Buffer> {
    let chunkStart = 0;
    for (const chunk of chunks) {
      const chunkEnd = chunkStart + chunk.length - 1;
      if (chunkEnd >= start && chunkStart <= end) {
        let from = Math.max(start, chunkStart) - chunkStart;
        const to = Math.min(end, chunkEnd) - chunkStart + 1;
        while (from < to) {
          const next = Math.min(to, from + STREAM_CHUNK);
          yield chunk.subarray(from, next);
          from = next;
        }
      }
      chunkStart += chunk.length;
      if (chunkStart > end) return;
    }
  }
  return Readable.from(pieces(), { objectMode: false });
}

function failingStream(err: Error): Readable {
  return new Readable({
    read() {
      this.destroy(err);
    },
  });
}

/**
 * BlobStore held in process memory, for fast tests. Same promises as the durable drivers, and
 * stricter where the interface states a precondition (append at the current size only).
 * Nothing survives the process; not for production use.
 */
export class MemoryBlobStore implements BlobStore {
  readonly uploads: UploadStaging;
  private readonly blobs = new Map<Digest, Bytes>();

  constructor() {
    this.uploads = new MemoryUploadStaging(this.blobs);
  }

  async stat(digest: Digest): Promise<BlobStat | undefined> {
    const blob = this.blobs.get(digest);
    return blob && { size: blob.size };
  }

  async read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const blob = this.blobs.get(digest);
    if (!blob) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    const stream = streamOf(blob, range);
    return signal ? addAbortSignal(signal, stream) : stream;
  }

  async delete(digest: Digest): Promise<boolean> {
    return this.blobs.delete(digest);
  }

  async *list(): AsyncIterable<Digest> {
    // A snapshot, so deleting while listing (GC) is safe.
    yield* [...this.blobs.keys()];
  }
}

class MemoryUploadStaging implements UploadStaging {
  private readonly staged = new Map<string, StagedUpload>();

  constructor(private readonly blobs: Map<Digest, Bytes>) {}

  private require(id: string): StagedUpload {
    const upload = this.staged.get(id);
    if (!upload) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    return upload;
  }

  async create(id: string): Promise<void> {
    if (this.staged.has(id)) throw new RegistryError('CONFLICT', `upload ${id} already exists`, { id });
    this.staged.set(id, { chunks: [], size: 0, modifiedAt: new Date() });
  }

  async size(id: string): Promise<number | undefined> {
    return this.staged.get(id)?.size;
  }

  async append(id: string, offset: number, data: Readable, signal?: AbortSignal): Promise<number> {
    let upload: StagedUpload;
    try {
      upload = this.require(id);
      if (offset !== upload.size) {
        throw new RegistryError('BLOB_UPLOAD_INVALID', `append at ${offset} but the upload has ${upload.size} bytes`, { id });
      }
      signal?.throwIfAborted();
    } catch (err) {
      data.destroy(); // whoever feeds `data` learns (as a premature close) that the write will not happen
      throw err;
    }
    const source = signal ? addAbortSignal(signal, data) : data;
    // Chunks land as they arrive, like bytes on disk: a failed append leaves a prefix behind.
    for await (const chunk of source as AsyncIterable<Buffer | string | Uint8Array>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk); // copy: producers may reuse buffers
      if (bytes.length === 0) continue;
      upload.chunks.push(bytes);
      upload.size += bytes.length;
      upload.modifiedAt = new Date();
    }
    return upload.size;
  }

  read(id: string): Readable {
    const upload = this.staged.get(id);
    if (!upload) return failingStream(new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id }));
    // Snapshot the chunk list: later appends do not leak into a read already started.
    return streamOf({ chunks: [...upload.chunks], size: upload.size });
  }

  async commit(id: string, digest: Digest): Promise<void> {
    const upload = this.staged.get(id);
    if (!upload) {
      if (this.blobs.has(digest)) return; // a retried commit that already succeeded
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { id });
    }
    this.staged.delete(id);
    if (!this.blobs.has(digest)) this.blobs.set(digest, { chunks: upload.chunks, size: upload.size });
  }

  async abort(id: string): Promise<void> {
    this.staged.delete(id);
  }

  async *list(): AsyncIterable<{ id: string; modifiedAt: Date }> {
    const snapshot = [...this.staged].map(([id, u]) => ({ id, modifiedAt: u.modifiedAt }));
    yield* snapshot;
  }
}
