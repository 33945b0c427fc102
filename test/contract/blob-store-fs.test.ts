import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore } from '../../src/storage/fs/fs-blob-store.ts';
import { blobStoreContract } from './blob-store.contract.ts';

blobStoreContract('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-blobs-'));
  const store = new FsBlobStore(root);
  await store.init();
  return { store, cleanup: () => rm(root, { recursive: true, force: true }) };
});
