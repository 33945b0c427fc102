import type { Digest } from '../domain/digest.ts';
import type { GcBlob } from './gc-store.ts';

/** A reference from a manifest that does not resolve. */
export interface BrokenRef {
  image: string;
  manifest: Digest;
  ref: Digest;
  kind: 'blob' | 'manifest';
}

/** A tag whose manifest is not there. */
export interface DanglingTag {
  imageId: number;
  image: string;
  tag: string;
  digest: Digest;
}

/** What `berth fsck` checks in the metadata, and the repairs it may make. Every list is capped at `limit`. */
export interface IntegrityStore {
  /** Every blob row in digest order, paged. */
  blobs(after: Digest | undefined, limit: number): Promise<GcBlob[]>;
  /** Manifest references to a blob without a live row, or to a manifest the image does not have. */
  brokenRefs(limit: number): Promise<BrokenRef[]>;
  /** Tags pointing at a manifest the image does not have. */
  danglingTags(limit: number): Promise<DanglingTag[]>;
  /** Image->blob links and manifest refs whose owner (blob row, manifest or image) is gone. */
  orphanRows(): Promise<{ links: number; refs: number }>;
  /** Removes the blob rows with their links (bytes missing or corrupt); the manifests stay, and a re-push of the blob heals them. */
  dropBlobs(digests: Digest[]): Promise<void>;
  dropTags(tags: DanglingTag[]): Promise<void>;
  /** Removes what `orphanRows` counts. */
  dropOrphanRows(): Promise<{ links: number; refs: number }>;
}
