/**
 * A registry without HTTP for GC tests: the real use cases over a metadata store (SQLite or
 * PostgreSQL) and an FsBlobStore in a temp dir, with a clock the test moves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Digest } from '../../../src/domain/digest.ts';
import type { MetadataStore } from '../../../src/metadata/metadata-store.ts';
import { GarbageCollector, type GcPolicy } from '../../../src/registry/gc/garbage-collector.ts';
import type { RegistryDeps } from '../../../src/registry/deps.ts';
import { Manifests } from '../../../src/registry/manifests.ts';
import { Repositories } from '../../../src/registry/repositories.ts';
import { Uploads } from '../../../src/registry/uploads.ts';
import { FsBlobStore } from '../../../src/storage/fs/fs-blob-store.ts';
import type { BuiltImage, BuiltIndex } from '../../support/oci-image-builder.ts';

export const HOUR = 3600_000;
export const CTX = { actor: 'alice', mayCreate: true };

export type MetadataFactory = () => Promise<{ store: MetadataStore; cleanup: () => Promise<void> }>;

export interface Harness {
  deps: RegistryDeps;
  metadata: MetadataStore;
  blobs: FsBlobStore;
  uploads: Uploads;
  manifests: Manifests;
  repositories: Repositories;
  dataDir: string;
  /** The test's clock (epoch ms); move it with `advance`. */
  clock: { now: number };
  advance(ms: number): void;
  gc(policy?: Partial<GcPolicy>): GarbageCollector;
  uploadBlob(name: string, bytes: Buffer, digest: string): Promise<void>;
  pushImage(name: string, reference: string, image: BuiltImage): Promise<string>;
  pushIndex(name: string, reference: string, index: BuiltIndex): Promise<string>;
  /** Whether the blob's bytes and row exist. */
  blobExists(digest: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function openHarness(openMetadata: MetadataFactory): Promise<Harness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-gc-'));
  const blobs = new FsBlobStore(dataDir);
  await blobs.init();
  const { store: metadata, cleanup } = await openMetadata();
  const clock = { now: Date.UTC(2024, 0, 1) };
  const deps: RegistryDeps = { metadata, blobs, now: () => clock.now };
  const repositories = new Repositories(deps);
  const uploads = new Uploads(deps, repositories);
  const manifests = new Manifests(deps, repositories);
  const h: Harness = {
    deps,
    metadata,
    blobs,
    uploads,
    manifests,
    repositories,
    dataDir,
    clock,
    advance(ms) {
      clock.now += ms;
    },
    gc(policy = {}) {
      return new GarbageCollector(deps, { graceMs: HOUR, uploadTtlMs: 24 * HOUR, untagged: false, ...policy });
    },
    async uploadBlob(name, bytes, digest) {
      await uploads.monolithic(name, digest as Digest, Readable.from([bytes]), CTX);
    },
    async pushImage(name, reference, image) {
      for (const b of [image.config, ...image.layers]) await h.uploadBlob(name, b.bytes, b.digest);
      return (await manifests.put(name, reference, image.manifest, image.mediaType, CTX)).digest;
    },
    async pushIndex(name, reference, index) {
      for (const child of index.children) await h.pushImage(name, child.digest, child);
      return (await manifests.put(name, reference, index.manifest, index.mediaType, CTX)).digest;
    },
    async blobExists(digest) {
      const bytes = await blobs.stat(digest as Digest);
      const row = await metadata.blobs.getBlob(digest as Digest);
      if (Boolean(bytes) !== Boolean(row)) throw new Error(`blob ${digest}: bytes ${Boolean(bytes)} but row ${Boolean(row)}`);
      return Boolean(bytes);
    },
    async close() {
      await metadata.close();
      await cleanup();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}
