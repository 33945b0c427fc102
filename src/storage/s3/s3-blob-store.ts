import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, HeadBucketCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { addAbortSignal, type Readable } from 'node:stream';
import { digestAlgorithm, digestHex, isDigest, type Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { BlobStat, BlobStore, ByteRange, UploadStaging } from '../blob-store.ts';
import { isNotFound, S3Context, type S3Settings } from './s3-context.ts';
import { S3UploadStaging } from './s3-upload-staging.ts';

export interface S3BlobStoreOptions extends S3Settings {
  /** Size of the staged chunks and so of the parts of an assembled blob (>= 5 MiB; default 16 MiB). */
  chunkBytes?: number;
  /**
   * Lifetime in seconds of presigned GET URLs; when set, blob GETs may be answered with a 307
   * redirect to the object store instead of streaming through the node. Off when undefined.
   */
  redirectSeconds?: number;
}

const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Blobs as objects `<prefix>blobs/<algorithm>/<hex>` in an S3-compatible bucket; uploads staged
 * in the same bucket (see S3UploadStaging), so every node sees the same blobs and uploads.
 */
export class S3BlobStore implements BlobStore {
  readonly uploads: UploadStaging;
  private readonly s3: S3Context;
  private readonly redirectSeconds: number | undefined;

  constructor(options: S3BlobStoreOptions) {
    this.s3 = new S3Context(options);
    this.redirectSeconds = options.redirectSeconds;
    this.uploads = new S3UploadStaging(this.s3, (digest) => this.keyOf(digest), options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  }

  /** Checks the bucket answers; creates it when `create` and it is missing. */
  async init(options: { create?: boolean } = {}): Promise<void> {
    try {
      await this.s3.client.send(new HeadBucketCommand({ Bucket: this.s3.bucket }));
    } catch (err) {
      if (!options.create || !isNotFound(err)) throw new Error(`S3 bucket ${this.s3.bucket} is not usable: ${describe(err)}`, { cause: err });
      await this.s3.client.send(new CreateBucketCommand({ Bucket: this.s3.bucket }));
    }
  }

  keyOf(digest: Digest): string {
    return `${this.s3.prefix}blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`;
  }

  private async head(digest: Digest): Promise<{ size: number; modified: Date | undefined } | undefined> {
    try {
      const res = await this.s3.client.send(new HeadObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(digest) }));
      return { size: Number(res.ContentLength ?? 0), modified: res.LastModified };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async stat(digest: Digest): Promise<BlobStat | undefined> {
    const head = await this.head(digest);
    return head && { size: head.size };
  }

  async storedAt(digest: Digest): Promise<Date | undefined> {
    return (await this.head(digest))?.modified;
  }

  async read(digest: Digest, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    let body: Readable;
    try {
      const res = await this.s3.client.send(
        new GetObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(digest), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
        signal ? { abortSignal: signal } : {},
      );
      body = res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
      throw err;
    }
    if (signal) addAbortSignal(signal, body);
    return body;
  }

  /** true when something was deleted (checked first: S3 deletes answer the same either way). */
  async delete(digest: Digest): Promise<boolean> {
    if (!(await this.head(digest))) return false;
    await this.s3.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(digest) }));
    return true;
  }

  /** Deletes many blobs with multi-object deletes of up to 1000 keys each; idempotent. */
  async deleteMany(digests: Digest[]): Promise<void> {
    await this.s3.deleteKeys(digests.map((d) => this.keyOf(d)));
  }

  async *list(): AsyncIterable<Digest> {
    const prefix = `${this.s3.prefix}blobs/`;
    for await (const object of this.s3.listObjects(prefix)) {
      const [algorithm, hex, ...rest] = object.Key!.slice(prefix.length).split('/');
      const digest = `${algorithm}:${hex}`;
      if (rest.length === 0 && isDigest(digest)) yield digest;
    }
  }

  /**
   * A presigned GET for the whole object, when redirects are configured. The URL does not sign a
   * range: a client following the 307 sends its own `Range` header again, and S3 honours it.
   */
  async redirectUrl(digest: Digest, _range?: ByteRange): Promise<string | undefined> {
    if (this.redirectSeconds === undefined) return undefined;
    return getSignedUrl(this.s3.client, new GetObjectCommand({ Bucket: this.s3.bucket, Key: this.keyOf(digest) }), { expiresIn: this.redirectSeconds });
  }

  async close(): Promise<void> {
    this.s3.client.destroy();
  }
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  return [e?.name, e?.$metadata?.httpStatusCode, e?.message].filter(Boolean).join(' ');
}
