import type { Digest } from '../domain/digest.ts';
import type { RetentionRule } from '../domain/retention.ts';

/** A blob row as garbage collection sees it. */
export interface GcBlob {
  digest: Digest;
  size: number;
}

/** A repo whose tag retention rules GC applies. */
export interface RetentionRepo {
  project: string;
  repo: string;
  rules: RetentionRule[];
}

/** A tag of one image of a repo, as retention sees it. */
export interface RetentionTagRow {
  imageId: number;
  /** The image part of the name. */
  image: string;
  name: string;
  digest: Digest;
  /** When the tag was last pushed (epoch ms). */
  pushedAt: number;
}

/** A manifest of one image, or a blob link of one image: the keys GC pages by. */
export interface ImageKey {
  imageId: number;
  digest: Digest;
}

/** One batch of a paged GC step: what was done, and where the next batch starts (undefined: done). */
export interface GcBatch<T, K> {
  items: T[];
  next?: K;
}

/**
 * The queries and deletes of online garbage collection. Reference tracking lives in the metadata
 * (image_blobs links, manifest_refs, tags, subjects), so GC never walks storage.
 *
 * Concurrency contract, which holds across processes and nodes because it lives in the database:
 * every step first locks its candidate rows and then re-checks them in a fresh statement of the
 * same transaction, and every writer that adds a reference (`BlobIndex.putBlob`/`link`, a
 * manifest put with `verifyRefs`) touches the rows it refers to in its own transaction. A
 * referenced row is therefore either seen by GC's re-check or refused to the writer, never
 * silently deleted under it. `cutoff` is an epoch-ms instant: only rows older than it are touched.
 */
export interface GcStore {
  /**
   * Removes (with their refs) up to `limit` manifests created before `cutoff` that no tag points
   * at, that no index of the same image lists, and whose subject is not a manifest of the image.
   * Removing an index or subject can make more manifests garbage: call again from the start
   * until a full pass removes nothing.
   */
  removeUntaggedManifests(cutoff: number, after: ImageKey | undefined, limit: number): Promise<GcBatch<ImageKey, ImageKey>>;
  /** Removes up to `limit` image->blob links made before `cutoff` that no manifest of the image references. */
  removeStaleLinks(cutoff: number, after: ImageKey | undefined, limit: number): Promise<GcBatch<ImageKey, ImageKey>>;
  /**
   * Marks as deleting up to `limit` blobs (digest > `after`) last touched before `cutoff` that no
   * image links and no manifest references. A marked blob cannot be linked or referenced again;
   * the caller deletes its bytes, then `forgetBlobs`.
   */
  markGarbageBlobs(cutoff: number, after: Digest | undefined, limit: number): Promise<GcBatch<GcBlob, Digest>>;
  /** Blobs already marked as deleting (an interrupted run's), up to `limit`. */
  markedBlobs(limit: number): Promise<GcBlob[]>;
  /** Drops the rows of marked blobs whose bytes are gone; idempotent. */
  forgetBlobs(digests: Digest[]): Promise<void>;
  /** Upload sessions not touched since `updatedBefore`, oldest first. */
  expiredUploads(updatedBefore: number, limit: number): Promise<string[]>;
  /** Those of `ids` that are upload sessions. */
  existingUploads(ids: string[]): Promise<Set<string>>;
  /** Those of `digests` that have a blob row (in any state). */
  existingBlobs(digests: Digest[]): Promise<Set<Digest>>;
  /** Repos with tag retention rules, except repos with immutable tags (their tags never go). */
  retentionRepos(): Promise<RetentionRepo[]>;
  /** Every tag of the repo's images. */
  repoTags(project: string, repo: string): Promise<RetentionTagRow[]>;
  /** Deletes those of `tags` not pushed again since they were read; returns the deleted. */
  removeTags(tags: RetentionTagRow[]): Promise<RetentionTagRow[]>;
  /**
   * Runs `fn` against a view of the store whose changes are all rolled back at the end: a dry
   * run reports exactly what a real run would remove. Holds one transaction for its duration.
   */
  dryRun<T>(fn: (gc: GcStore) => Promise<T>): Promise<T>;
}
