import type { Readable } from 'node:stream';
import type { Digest } from '../domain/digest.ts';
import { RegistryError } from '../domain/errors.ts';
import type { ByteRange } from '../storage/blob-store.ts';
import type { RegistryDeps } from './deps.ts';
import type { Repositories } from './repositories.ts';

export interface BlobRead {
  size: number;
  /** The range served, when one was asked for and is satisfiable. */
  range?: ByteRange;
  /** A presigned URL to redirect to instead of streaming, when the store offers one. */
  redirect?: string;
  /** The bytes; absent for HEAD-style stats and redirects. */
  body?: Readable;
}

/** Parses one `bytes=` range against `size`. undefined means "serve everything" (absent or multi-range). */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const unit = /^([A-Za-z][A-Za-z0-9-]*)=/.exec(header.trim());
  if (unit && unit[1] !== 'bytes') return undefined; // an unknown range unit is ignored (RFC 9110 14.2)
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) {
    if (/^bytes=/.test(header.trim()) && header.includes(',')) return undefined; // multi-range: whole body is allowed
    throw new RegistryError('RANGE_INVALID', 'invalid Range header', undefined, { headers: { 'content-range': `bytes */${size}` } });
  }
  const [, a = '', b = ''] = m;
  let start: number;
  let end: number;
  if (a === '' && b === '') {
    throw new RegistryError('RANGE_INVALID', 'invalid Range header', undefined, { headers: { 'content-range': `bytes */${size}` } });
  } else if (a === '') {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) {
      throw new RegistryError('RANGE_INVALID', undefined, undefined, { headers: { 'content-range': `bytes */${size}` } });
    }
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) {
      throw new RegistryError('RANGE_INVALID', 'range end is before its start', undefined, { headers: { 'content-range': `bytes */${size}` } });
    }
  }
  if (!Number.isSafeInteger(start) || start >= size) {
    throw new RegistryError('RANGE_INVALID', undefined, undefined, { headers: { 'content-range': `bytes */${size}` } });
  }
  return { start, end };
}

/** Blob reads and deletes within a repository: only blobs linked to the image are visible. */
export class Blobs {
  constructor(
    private readonly deps: RegistryDeps,
    private readonly repositories: Repositories,
  ) {}

  /** Size of the blob in the repository, or BLOB_UNKNOWN. */
  async stat(name: string, digest: Digest): Promise<number> {
    const linked = await this.deps.metadata.blobs.getLinkedByName(name, digest);
    if (!linked) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    return linked.size;
  }

  /** Opens the blob (or a range of it) for streaming. */
  async read(name: string, digest: Digest, rangeHeader: string | undefined, signal?: AbortSignal): Promise<BlobRead> {
    const size = await this.stat(name, digest);
    const range = parseRange(rangeHeader, size);
    const redirect = await this.deps.blobs.redirectUrl?.(digest, range);
    if (redirect) return { size, redirect, ...(range ? { range } : {}) };
    try {
      const body = await this.deps.blobs.read(digest, range, signal);
      return { size, body, ...(range ? { range } : {}) };
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'BLOB_UNKNOWN') {
        // Metadata says linked but the bytes are gone: report it as unknown, never as a 500.
        throw new RegistryError('BLOB_UNKNOWN', 'blob content is missing from storage', { digest });
      }
      throw err;
    }
  }

  /** Removes the blob from the repository; the bytes stay until garbage collection. */
  async delete(name: string, digest: Digest): Promise<void> {
    const image = await this.repositories.find(name);
    if (!image || !(await this.deps.metadata.blobs.unlink(image.id, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    }
  }
}
