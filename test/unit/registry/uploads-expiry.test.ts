import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isRegistryError } from '../../../src/domain/errors.ts';
import type { KyselyMetadataStore } from '../../../src/metadata/kysely/kysely-metadata-store.ts';
import { openSqliteMetadata } from '../../../src/metadata/kysely/sqlite.ts';
import type { RegistryDeps } from '../../../src/registry/deps.ts';
import { Repositories } from '../../../src/registry/repositories.ts';
import { Uploads } from '../../../src/registry/uploads.ts';
import { MemoryBlobStore } from '../../../src/storage/memory/memory-blob-store.ts';

describe('Uploads: a session that expires while a chunk is written', () => {
  let dir: string;
  let metadata: KyselyMetadataStore;
  let deps: RegistryDeps;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-uploads-'));
    metadata = await openSqliteMetadata(join(dir, 'berth.db'));
    deps = { metadata, blobs: new MemoryBlobStore(), now: Date.now };
  });
  after(async () => {
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the chunk is refused with BLOB_UPLOAD_UNKNOWN, not accepted', async () => {
    const uploads = new Uploads(deps, new Repositories(deps));
    const { id } = await uploads.start('proj/repo/app', { actor: 'admin', mayCreate: true });
    const chunk = new PassThrough();
    const appended = uploads.append('proj/repo/app', id, chunk, undefined, undefined);
    chunk.write(Buffer.alloc(1000, 1));
    await new Promise((resolve) => setImmediate(resolve));
    await metadata.uploads.delete(id); // what upload expiry does while the chunk is still arriving
    chunk.end(Buffer.alloc(1000, 2));
    await assert.rejects(appended, (err) => isRegistryError(err) && err.code === 'BLOB_UPLOAD_UNKNOWN');
  });
});
