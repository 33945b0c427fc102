import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { KyselyMetadataStore } from '../../src/metadata/kysely/kysely-metadata-store.ts';
import { openSqliteMetadata } from '../../src/metadata/kysely/sqlite.ts';
import type { RegistryDeps } from '../../src/registry/deps.ts';
import { MemoryBlobStore } from '../../src/storage/memory/memory-blob-store.ts';

/**
 * Registry dependencies for the unit tests of the enclosing describe: SQLite metadata in a fresh
 * temporary dir, blobs in memory; opened before its tests, closed and removed after them.
 */
export function useTestDeps(): { deps: RegistryDeps; metadata: KyselyMetadataStore } {
  const opened = {} as { deps: RegistryDeps; metadata: KyselyMetadataStore };
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-uploads-'));
    opened.metadata = await openSqliteMetadata(join(dir, 'berth.db'));
    opened.deps = { metadata: opened.metadata, blobs: new MemoryBlobStore(), now: Date.now };
  });
  after(async () => {
    await opened.metadata?.close();
    await rm(dir, { recursive: true, force: true });
  });
  return opened;
}
