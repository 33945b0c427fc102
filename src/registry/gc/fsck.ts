import { createDigester, digestAlgorithm, digestHex, type Digest } from '../../domain/digest.ts';
import type { BrokenRef, DanglingTag } from '../../metadata/integrity-store.ts';
import type { RegistryDeps } from '../deps.ts';

export interface CorruptBlob {
  digest: Digest;
  reason: string;
}

export interface FsckReport {
  blobsChecked: number;
  bytesChecked: number;
  /** Blob rows whose bytes are gone. */
  missingBlobs: Digest[];
  /** Blobs whose bytes have the wrong size or hash. */
  corruptBlobs: CorruptBlob[];
  /** Blob files no row knows (an upload cut off between commit and record, or a crash in GC before migration 0004). */
  orphanBlobFiles: Digest[];
  /** Staged uploads without a session row. */
  orphanUploads: string[];
  /** Manifest references that do not resolve (after repair: what a re-push of those blobs would heal). */
  brokenRefs: BrokenRef[];
  danglingTags: DanglingTag[];
  /** Links and refs whose owner is gone. */
  orphanRows: { links: number; refs: number };
  repaired: boolean;
}

export interface FsckOptions {
  repair?: boolean;
  /** Re-hash every blob (default true); false checks presence and size only. */
  verifyDigests?: boolean;
  onProgress?: (checked: number, bytes: number) => void;
  /** Cap on each reported list (default 10,000). */
  limit?: number;
}

const PAGE = 500;
const HASH_CONCURRENCY = 4;

/**
 * `berth fsck`: verifies stored blobs (present, right size, right digest), that every manifest's
 * references resolve and every tag points at a manifest; with `repair`, removes corrupt blobs
 * (bytes and rows), rows whose blob bytes are gone, dangling tags and orphan rows, bytes and
 * staged uploads nothing knows. Manifests are never removed: one whose blob was lost is reported,
 * and pushing that blob again heals it. Meant for a stopped server (it reads every byte).
 */
export class Fsck {
  constructor(private readonly deps: RegistryDeps) {}

  async run(options: FsckOptions = {}): Promise<FsckReport> {
    const limit = options.limit ?? 10_000;
    const verify = options.verifyDigests ?? true;
    const integrity = this.deps.metadata.integrity;
    const report: FsckReport = {
      blobsChecked: 0,
      bytesChecked: 0,
      missingBlobs: [],
      corruptBlobs: [],
      orphanBlobFiles: [],
      orphanUploads: [],
      brokenRefs: [],
      danglingTags: [],
      orphanRows: { links: 0, refs: 0 },
      repaired: false,
    };

    let after: Digest | undefined;
    for (;;) {
      const page = await integrity.blobs(after, PAGE);
      if (page.length === 0) break;
      let next = 0;
      await Promise.all(
        Array.from({ length: HASH_CONCURRENCY }, async () => {
          while (next < page.length) {
            const blob = page[next++]!;
            const problem = await this.check(blob.digest, blob.size, verify);
            if (problem === 'missing') report.missingBlobs.push(blob.digest);
            else if (problem) report.corruptBlobs.push({ digest: blob.digest, reason: problem });
            report.blobsChecked++;
            report.bytesChecked += blob.size;
            options.onProgress?.(report.blobsChecked, report.bytesChecked);
          }
        }),
      );
      after = page[page.length - 1]!.digest;
    }

    let batch: Digest[] = [];
    const flush = async () => {
      const rows = await this.deps.metadata.gc.existingBlobs(batch);
      for (const d of batch) if (!rows.has(d)) report.orphanBlobFiles.push(d);
      batch = [];
    };
    for await (const digest of this.deps.blobs.list()) {
      batch.push(digest);
      if (batch.length >= PAGE) await flush();
    }
    if (batch.length > 0) await flush();

    const staged: string[] = [];
    for await (const upload of this.deps.blobs.uploads.list()) staged.push(upload.id);
    for (let i = 0; i < staged.length; i += PAGE) {
      const part = staged.slice(i, i + PAGE);
      const rows = await this.deps.metadata.gc.existingUploads(part);
      report.orphanUploads.push(...part.filter((id) => !rows.has(id)));
    }

    report.danglingTags = await integrity.danglingTags(limit);
    report.orphanRows = await integrity.orphanRows();

    if (options.repair) {
      const corrupt = report.corruptBlobs.map((c) => c.digest);
      for (const digest of corrupt) await this.deps.blobs.delete(digest);
      await integrity.dropBlobs([...corrupt, ...report.missingBlobs]);
      await integrity.dropTags(report.danglingTags);
      report.orphanRows = await integrity.dropOrphanRows();
      for (const digest of report.orphanBlobFiles) await this.deps.blobs.delete(digest);
      for (const id of report.orphanUploads) await this.deps.blobs.uploads.abort(id);
      report.repaired = true;
    }
    report.brokenRefs = await integrity.brokenRefs(limit);
    return report;
  }

  /** undefined when the blob is sound, 'missing', or why it is corrupt. */
  private async check(digest: Digest, size: number, verify: boolean): Promise<string | undefined> {
    const stat = await this.deps.blobs.stat(digest);
    if (!stat) return 'missing';
    if (stat.size !== size) return `size is ${stat.size}, the record says ${size}`;
    if (!verify) return undefined;
    const hash = createDigester(digestAlgorithm(digest));
    try {
      for await (const chunk of await this.deps.blobs.read(digest)) hash.update(chunk as Buffer);
    } catch (err) {
      return `unreadable: ${(err as Error).message}`;
    }
    const actual = hash.digest('hex');
    return actual === digestHex(digest) ? undefined : `content hashes to ${digestAlgorithm(digest)}:${actual}`;
  }
}
