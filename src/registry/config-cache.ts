import type { Digest } from '../domain/digest.ts';

/** Largest config kept (bigger ones are read from the store each time they are needed). */
export const CONFIG_CACHE_ENTRY_BYTES = 64 * 1024;
/** All kept configs together. */
export const CONFIG_CACHE_BYTES = 2 * 1024 * 1024;

/**
 * Recently seen small image configs by digest, least recently used dropped first. A manifest PUT
 * reads its config for the facts the management API shows; a client pushes the config just
 * before the manifest, so uploads hand small JSON blobs here as they commit them and the PUT
 * reads no file. Content-addressed bytes never change: there is nothing to invalidate.
 */
export class ConfigCache {
  private readonly entries = new Map<Digest, Buffer>();
  private bytes = 0;

  get(digest: Digest): Buffer | undefined {
    const found = this.entries.get(digest);
    if (found) {
      this.entries.delete(digest); // most recently used last
      this.entries.set(digest, found);
    }
    return found;
  }

  /** Keeps a copy of `bytes` (the blob `digest`, whole or as its parts in order) when small enough. */
  remember(digest: Digest, bytes: Buffer | readonly Buffer[]): void {
    const parts = Buffer.isBuffer(bytes) ? [bytes] : bytes;
    const size = parts.reduce((n, b) => n + b.length, 0);
    if (size > CONFIG_CACHE_ENTRY_BYTES || this.entries.has(digest)) return;
    // An exact-size copy: a small Buffer is a slice of an 8 KiB pool slab, and a cached slice
    // would keep its whole slab alive (2,000 cached configs pinned 4 MiB).
    const own = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const part of parts) at += part.copy(own, at);
    this.entries.set(digest, own);
    this.bytes += own.length;
    for (const [d, b] of this.entries) {
      if (this.bytes <= CONFIG_CACHE_BYTES) break;
      this.entries.delete(d);
      this.bytes -= b.length;
    }
  }
}

/** Whether a blob starting with `first` may be an image config (a JSON object), worth keeping. */
export function mayBeConfig(first: Buffer): boolean {
  return first.length > 0 && first[0] === 0x7b; // '{'
}
