import { createHash } from 'node:crypto';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';

export interface S3Settings {
  /** `http(s)://host:port` of an S3-compatible service; AWS when undefined. */
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key`; most non-AWS servers want it. */
  forcePathStyle: boolean;
  /** Key prefix for everything Berth stores, so one bucket can hold several registries. */
  prefix?: string;
}

/** Characters S3 keys may carry unescaped in an `x-amz-copy-source` header. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** The client, bucket and key prefix shared by the blob store and its upload staging. */
export class S3Context {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;

  constructor(settings: S3Settings) {
    this.bucket = settings.bucket;
    this.prefix = settings.prefix ? `${settings.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
    this.client = new S3Client({
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.accessKeyId && settings.secretAccessKey
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
        : {}),
      // Ceph radosgw and Swift's s3api refuse the SDK's default aws-chunked bodies with checksum
      // trailers; checksums only where the API requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
    });
    // Multi-object delete requires Content-MD5 on several S3-compatible servers (Swift's s3api,
    // older radosgw); recent SDKs send a CRC32 checksum instead. Adding it is harmless on AWS.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string>; body?: unknown };
        if (context.commandName === 'DeleteObjectsCommand' && request.headers && (typeof request.body === 'string' || Buffer.isBuffer(request.body) || request.body instanceof Uint8Array)) {
          request.headers['content-md5'] = createHash('md5').update(request.body as string | Uint8Array).digest('base64');
        }
        return next(args);
      },
      { step: 'build', name: 'berthContentMd5', priority: 'low' },
    );
  }

  /** `bucket/key`, URL-encoded, for CopyObject and UploadPartCopy. */
  copySource(key: string): string {
    return `${encodeURIComponent(this.bucket)}/${encodeKey(key)}`;
  }

  /** Every object under `prefix`, page by page. */
  async *listObjects(prefix: string): AsyncIterable<_Object> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const object of page.Contents ?? []) if (object.Key !== undefined) yield object;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Deletes keys in batches of 1000 (the API's limit); idempotent. Throws when the server reports a failed key. */
  async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 delete of ${failed[0]!.Key} failed: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`.trim());
    }
  }
}

/** True for the errors S3 and its imitations use for a missing key or upload. */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.name === 'NoSuchUpload' || e?.Code === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}
