import type { Digest } from '../domain/digest.ts';

/** What a push is about to add to an image: blobs to link and a manifest to store. */
export interface QuotaAdds {
  /** Blobs with their sizes in bytes. */
  blobs: { digest: Digest; size: number }[];
  manifest?: { digest: Digest; size: number };
}

/**
 * Storage accounting for quotas. Usage of a project or repo is the bytes of the distinct blobs
 * linked to its images plus the bytes of its distinct manifests: a blob shared by two repos
 * counts once in each repo (and once in the project when both are in the same project).
 *
 * Enforcement is authoritative inside the writers' transactions (BlobIndex.link, ManifestIndex.put):
 * they lock the project and repo rows that carry a quota, so quota-checked writers of one
 * project or repo run one after the other and each sees what the previous one committed.
 * Usage is computed by a query at check time (no counters to drift); pushes into a project
 * and repo without quotas pay one indexed lookup.
 */
export interface QuotaStore {
  /** Bytes used by the project, or by one repo of it. */
  usedBytes(project: string, repo?: string): Promise<number>;
  /**
   * An early, unlocked check before bytes are stored (so an over-quota upload normally stores
   * nothing): DENIED naming the quota when adding `adds` to the image would exceed it.
   */
  check(imageId: number, adds: QuotaAdds): Promise<void>;
}
