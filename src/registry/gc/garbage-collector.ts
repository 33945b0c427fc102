import type { Digest } from '../../domain/digest.ts';
import { expiredTags } from '../../domain/retention.ts';
import type { GcBlob, GcStore, ImageKey, RetentionTagRow } from '../../metadata/gc-store.ts';
import type { RegistryDeps } from '../deps.ts';

export interface GcPolicy {
  /** Blobs and links younger than this are never collected: uploads not yet referenced by a manifest. */
  graceMs: number;
  /** Upload sessions idle for longer than this are removed with their staged bytes. */
  uploadTtlMs: number;
  /** Also remove untagged manifests that no index of the image lists and that refer to no live subject. */
  untagged: boolean;
  /** Rows per batch (default 1000). */
  batchSize?: number;
  /** Blob deletions in flight at once (default 32). */
  deleteConcurrency?: number;
}

/** A tag removed (or, in a dry run, to be removed) by a repo's retention rules. */
export interface ExpiredTag {
  name: string;
  tag: string;
  digest: Digest;
}

/** At most this many expired tags are listed in a summary (all are counted). */
export const MAX_LISTED_TAGS = 1000;

export interface GcSummary {
  dryRun: boolean;
  /** Tags removed by retention rules (docs/quotas-and-retention.md). */
  tagsExpired: number;
  /** The first MAX_LISTED_TAGS of them. */
  expiredTags: ExpiredTag[];
  manifestsRemoved: number;
  linksRemoved: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsExpired: number;
  /** Blobs an interrupted run had marked and this run finished deleting (included in blobsDeleted). */
  blobsResumed: number;
  durationMs: number;
}

export interface LeftoverSummary {
  dryRun: boolean;
  /** Staged uploads with no session row, older than the grace period. */
  stagedUploads: number;
  /** Blob files with no blob row, older than the grace period. */
  blobFiles: number;
  bytes: number;
}

export type GcPhase = 'resume' | 'retention' | 'manifests' | 'links' | 'blobs' | 'uploads' | 'leftovers';
export type GcProgress = (phase: GcPhase, done: number, bytes: number) => void;

export interface CollectOptions {
  dryRun?: boolean;
  onProgress?: GcProgress;
  signal?: AbortSignal;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Online garbage collection and cleanup, safe while pushes and deletes go on and while other
 * nodes collect too (the protocol is in the metadata store, gc-store.ts):
 *  1. untagged manifests (by policy) that no index lists and whose subject is gone;
 *  2. image->blob links older than the grace period that no manifest of the image references;
 *  3. blobs older than the grace period that no image links and no manifest references: marked
 *     in the database, then their bytes deleted, then their rows. Bytes go before rows, so a
 *     crash leaves a marked row that the next run finishes, never bytes nothing knows about;
 *  4. upload sessions idle for longer than the upload TTL, with their staged bytes.
 */
export class GarbageCollector {
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly deps: RegistryDeps,
    private readonly policy: GcPolicy,
  ) {}

  private get batch(): number {
    return this.policy.batchSize ?? 1000;
  }

  /** One collection. Runs in this process one at a time (a second call waits for the first). */
  async collect(options: CollectOptions = {}): Promise<GcSummary> {
    return this.exclusive(() => this.run(options));
  }

  /** Removes what cut-off uploads and crashes left in storage without metadata (run at start-up). */
  async sweepLeftovers(options: CollectOptions = {}): Promise<LeftoverSummary> {
    return this.exclusive(() => this.sweep(options));
  }

  /**
   * Finishes only the deletions an interrupted run (a crash mid-GC) had decided: marked blobs lose
   * their bytes, then their rows. Until then an upload of such a digest waits and fails with 503,
   * so the server does this at start even when scheduled GC is off. Idempotent, safe beside a run
   * on another node (the same step starts every run).
   */
  async finishInterrupted(options: Pick<CollectOptions, 'signal'> = {}): Promise<{ count: number; bytes: number }> {
    return this.exclusive(() => this.resume(undefined, options.signal));
  }

  private async resume(onProgress: CollectOptions['onProgress'], signal: AbortSignal | undefined): Promise<{ count: number; bytes: number }> {
    const gc = this.deps.metadata.gc;
    const total = { count: 0, bytes: 0 };
    for (;;) {
      signal?.throwIfAborted();
      const marked = await gc.markedBlobs(this.batch);
      if (marked.length === 0) break;
      const freed = await this.deleteBlobs(gc, marked);
      total.count += freed.count;
      total.bytes += freed.bytes;
      onProgress?.('resume', total.count, total.bytes);
      if (freed.count < marked.length) break; // bytes that would not delete: retry next run
    }
    return total;
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running.catch(() => undefined);
    const run = fn();
    this.running = run;
    try {
      return await run;
    } finally {
      if (this.running === run) this.running = undefined;
    }
  }

  private async run({ dryRun = false, onProgress, signal }: CollectOptions): Promise<GcSummary> {
    const started = Date.now();
    const now = this.deps.now();
    const cutoff = now - this.policy.graceMs;
    const summary: GcSummary = { dryRun, tagsExpired: 0, expiredTags: [], manifestsRemoved: 0, linksRemoved: 0, blobsDeleted: 0, bytesFreed: 0, uploadsExpired: 0, blobsResumed: 0, durationMs: 0 };
    const gc = this.deps.metadata.gc;

    if (!dryRun) {
      // An interrupted run's marked blobs first: nothing can reference them any more.
      const resumed = await this.resume(onProgress, signal);
      summary.blobsResumed += resumed.count;
      summary.blobsDeleted += resumed.count;
      summary.bytesFreed += resumed.bytes;
    }

    const collectRows = async (store: GcStore) => {
      // Retention first: the tags it removes leave manifests for the untagged policy and blobs below.
      for (const repo of await store.retentionRepos()) {
        signal?.throwIfAborted();
        const byImage = new Map<number, RetentionTagRow[]>();
        for (const t of await store.repoTags(repo.project, repo.repo)) {
          const list = byImage.get(t.imageId) ?? [];
          list.push(t);
          byImage.set(t.imageId, list);
        }
        const expired = [...byImage.values()].flatMap((tags) => expiredTags(tags, repo.rules));
        for (const t of await store.removeTags(expired)) {
          summary.tagsExpired++;
          if (summary.expiredTags.length < MAX_LISTED_TAGS) summary.expiredTags.push({ name: `${repo.project}/${repo.repo}/${t.image}`, tag: t.name, digest: t.digest });
        }
        onProgress?.('retention', summary.tagsExpired, 0);
      }
      if (this.policy.untagged) {
        // Removing an index or a subject frees its children and referrers: repeat until a pass removes nothing.
        for (let pass = 0; pass < 64; pass++) {
          let removedInPass = 0;
          let after: ImageKey | undefined;
          do {
            signal?.throwIfAborted();
            const res = await store.removeUntaggedManifests(cutoff, after, this.batch);
            removedInPass += res.items.length;
            summary.manifestsRemoved += res.items.length;
            onProgress?.('manifests', summary.manifestsRemoved, 0);
            after = res.next;
          } while (after);
          if (removedInPass === 0) break;
        }
      }
      let afterLink: ImageKey | undefined;
      do {
        signal?.throwIfAborted();
        const res = await store.removeStaleLinks(cutoff, afterLink, this.batch);
        summary.linksRemoved += res.items.length;
        onProgress?.('links', summary.linksRemoved, 0);
        afterLink = res.next;
      } while (afterLink);
      let afterBlob: Digest | undefined;
      do {
        signal?.throwIfAborted();
        const res = await store.markGarbageBlobs(cutoff, afterBlob, this.batch);
        if (dryRun) {
          summary.blobsDeleted += res.items.length;
          summary.bytesFreed += res.items.reduce((sum, b) => sum + b.size, 0);
        } else {
          const freed = await this.deleteBlobs(store, res.items);
          summary.blobsDeleted += freed.count;
          summary.bytesFreed += freed.bytes;
        }
        onProgress?.('blobs', summary.blobsDeleted, summary.bytesFreed);
        afterBlob = res.next;
      } while (afterBlob);
    };
    if (dryRun) await gc.dryRun(collectRows);
    else await collectRows(gc);

    summary.uploadsExpired = await this.expireUploads(now - this.policy.uploadTtlMs, dryRun, onProgress, signal);
    summary.durationMs = Date.now() - started;
    return summary;
  }

  /** Deletes the bytes of marked blobs, then the rows of those whose bytes are gone. */
  private async deleteBlobs(store: GcStore, blobs: GcBlob[]): Promise<{ count: number; bytes: number }> {
    const gone: GcBlob[] = [];
    await forEachLimited(blobs, this.policy.deleteConcurrency ?? 32, async (blob) => {
      try {
        await this.deps.blobs.delete(blob.digest);
        gone.push(blob);
      } catch {
        // Left marked: the next run retries; nothing can reference it meanwhile.
      }
    });
    await store.forgetBlobs(gone.map((b) => b.digest));
    return { count: gone.length, bytes: gone.reduce((sum, b) => sum + b.size, 0) };
  }

  private async expireUploads(updatedBefore: number, dryRun: boolean, onProgress?: GcProgress, signal?: AbortSignal): Promise<number> {
    const gc = this.deps.metadata.gc;
    if (dryRun) return (await gc.expiredUploads(updatedBefore, Number.MAX_SAFE_INTEGER)).length;
    let expired = 0;
    for (;;) {
      signal?.throwIfAborted();
      const ids = await gc.expiredUploads(updatedBefore, this.batch);
      if (ids.length === 0) return expired;
      await forEachLimited(ids, this.policy.deleteConcurrency ?? 32, async (id) => {
        // The row first: a client still using the session then gets BLOB_UPLOAD_UNKNOWN, never a half-gone upload.
        await this.deps.metadata.uploads.delete(id);
        await this.deps.blobs.uploads.abort(id);
      });
      expired += ids.length;
      onProgress?.('uploads', expired, 0);
    }
  }

  private async sweep({ dryRun = false, onProgress, signal }: CollectOptions): Promise<LeftoverSummary> {
    const cutoff = this.deps.now() - this.policy.graceMs;
    const gc = this.deps.metadata.gc;
    const summary: LeftoverSummary = { dryRun, stagedUploads: 0, blobFiles: 0, bytes: 0 };

    const staged: string[] = [];
    for await (const upload of this.deps.blobs.uploads.list()) {
      if (upload.modifiedAt.getTime() < cutoff) staged.push(upload.id);
    }
    for (let i = 0; i < staged.length; i += this.batch) {
      signal?.throwIfAborted();
      const part = staged.slice(i, i + this.batch);
      const known = await gc.existingUploads(part);
      const orphans = part.filter((id) => !known.has(id));
      for (const id of orphans) {
        const size = (await this.deps.blobs.uploads.size(id)) ?? 0;
        if (!dryRun) await this.deps.blobs.uploads.abort(id);
        summary.stagedUploads++;
        summary.bytes += size;
      }
      onProgress?.('leftovers', summary.stagedUploads + summary.blobFiles, summary.bytes);
    }

    let part: Digest[] = [];
    const flush = async () => {
      signal?.throwIfAborted();
      const known = await gc.existingBlobs(part);
      for (const digest of part) {
        if (known.has(digest)) continue;
        // Without a time of storage the age is unknown: keep it (fsck --repair removes it).
        const storedAt = await this.deps.blobs.storedAt?.(digest);
        if (storedAt === undefined || storedAt.getTime() >= cutoff) continue;
        const stat = await this.deps.blobs.stat(digest);
        if (!stat) continue;
        // Re-check right before deleting: an upload records the row before it commits the bytes.
        if ((await gc.existingBlobs([digest])).size > 0) continue;
        if (!dryRun) await this.deps.blobs.delete(digest);
        summary.blobFiles++;
        summary.bytes += stat.size;
      }
      onProgress?.('leftovers', summary.stagedUploads + summary.blobFiles, summary.bytes);
      part = [];
    };
    for await (const digest of this.deps.blobs.list()) {
      part.push(digest);
      if (part.length >= this.batch) await flush();
    }
    if (part.length > 0) await flush();
    return summary;
  }
}
