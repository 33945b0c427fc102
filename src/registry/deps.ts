import type { MetadataStore } from '../metadata/metadata-store.ts';
import type { BlobStore } from '../storage/blob-store.ts';

/** What every use case needs; built once by the composition root. */
export interface RegistryDeps {
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  /** Epoch milliseconds; replaceable in tests. */
  readonly now: () => number;
}
