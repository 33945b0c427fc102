import type { Readable } from 'node:stream';
import type { Digest } from '../domain/digest.ts';

/** An inclusive byte range, already validated against the blob's size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobStat {
  size: number;
}

export interface AppendOptions {
  /** No more bytes follow: the upload is committed next (its bytes may be synced now). */
  last?: boolean;
}

/**
 * Staging area for uploads in progress. Bytes staged here are invisible to `BlobStore.read`
 * until `commit` makes them a blob.
 */
export interface UploadStaging {
  /** Creates an empty staged upload. */
  create(id: string): Promise<void>;
  /** Bytes staged so far; undefined when the upload does not exist. */
  size(id: string): Promise<number | undefined>;
  /**
   * Writes `data` at `offset` (which must be the current size) and resolves to the new size.
   * Rejects with BLOB_UPLOAD_UNKNOWN when the upload does not exist and BLOB_UPLOAD_INVALID when
   * `offset` is not its size (nothing written then). On failure (client gone, disk error) bytes
   * may be partly written: callers re-read `size`. With `last`, the caller commits right after
   * and the store may make the bytes durable now, as part of the write (cheaper than at commit).
   */
  append(id: string, offset: number, data: Readable, signal?: AbortSignal, opts?: AppendOptions): Promise<number>;
  /** The staged bytes from the start, for re-hashing when the running hash was lost; the stream errors when the upload does not exist. */
  read(id: string): Readable;
  /**
   * Makes the staged bytes the blob `digest`, durably and atomically (the caller verified the
   * digest). Idempotent when the blob already exists, also for a retried commit whose upload is
   * already gone. The staged upload is gone afterwards. Rejects with BLOB_UPLOAD_UNKNOWN when
   * neither the upload nor the blob exists.
   */
  commit(id: string, digest: Digest): Promise<void>;
  /** Removes the staged upload; idempotent. */
  abort(id: string): Promise<void>;
  /** Every staged upload with its last modification time, for expiry. */
  list(): AsyncIterable<{ id: string; modifiedAt: Date }>;
}

/** Content-addressed bytes. Knows nothing of repositories, tags or permissions. */
export interface BlobStore {
  /** undefined when the blob does not exist. */
  stat(digest: Digest): Promise<BlobStat | undefined>;
  /** Streams the blob or one range of it; rejects with BLOB_UNKNOWN when missing. */
  read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable>;
  /** true when something was deleted; idempotent. */
  delete(digest: Digest): Promise<boolean>;
  /** Every stored blob, in no particular order. */
  list(): AsyncIterable<Digest>;
  /** When the blob's bytes were stored; undefined when missing. Optional: GC's age check for bytes no metadata knows. */
  storedAt?(digest: Digest): Promise<Date | undefined>;
  /** A URL the client may fetch the blob from directly (presigned), when the driver supports it. */
  redirectUrl?(digest: Digest, range?: ByteRange): Promise<string | undefined>;
  readonly uploads: UploadStaging;
  close?(): Promise<void>;
}
