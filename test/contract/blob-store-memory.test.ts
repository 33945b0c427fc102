import { MemoryBlobStore } from '../../src/storage/memory/memory-blob-store.ts';
import { blobStoreContract } from './blob-store.contract.ts';

blobStoreContract('memory', async () => ({ store: new MemoryBlobStore(), cleanup: async () => {} }));
