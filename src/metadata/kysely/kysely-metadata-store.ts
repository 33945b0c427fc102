import type { Kysely } from 'kysely';
import type { AuthStore } from '../auth-store.ts';
import type { GcStore } from '../gc-store.ts';
import type { ImageStore } from '../image-store.ts';
import type { IntegrityStore } from '../integrity-store.ts';
import type { BlobIndex, ManifestIndex, MetadataStore, NamespaceStore, UploadIndex, UserStore } from '../metadata-store.ts';
import type { ProjectStore } from '../project-store.ts';
import type { QuotaStore } from '../quota-store.ts';
import type { StatsStore } from '../stats-store.ts';
import { KyselyAuthStore } from './kysely-auth-store.ts';
import { KyselyBlobs } from './kysely-blob-index.ts';
import { KyselyGcStore } from './kysely-gc-store.ts';
import { KyselyImageStore } from './kysely-image-store.ts';
import { KyselyIntegrityStore } from './kysely-integrity-store.ts';
import { KyselyManifests } from './kysely-manifest-index.ts';
import { KyselyNamespaces } from './kysely-namespaces.ts';
import { KyselyProjectStore } from './kysely-project-store.ts';
import { KyselyQuotaStore } from './kysely-quota-store.ts';
import { KyselyStatsStore } from './kysely-stats-store.ts';
import { KyselyUploads } from './kysely-upload-index.ts';
import { KyselyUsers } from './kysely-user-store.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** The metadata store over any Kysely dialect whose schema `migrateToLatest` created. */
export class KyselyMetadataStore implements MetadataStore {
  readonly namespaces: NamespaceStore;
  readonly blobs: BlobIndex;
  readonly manifests: ManifestIndex;
  readonly uploads: UploadIndex;
  readonly users: UserStore;
  readonly auth: AuthStore;
  readonly images: ImageStore;
  readonly projects: ProjectStore;
  readonly gc: GcStore;
  readonly integrity: IntegrityStore;
  readonly quotas: QuotaStore;
  readonly stats: StatsStore;

  constructor(private readonly db: Db) {
    this.namespaces = new KyselyNamespaces(db);
    this.blobs = new KyselyBlobs(db);
    this.manifests = new KyselyManifests(db);
    this.uploads = new KyselyUploads(db);
    this.users = new KyselyUsers(db);
    this.auth = new KyselyAuthStore(db);
    this.images = new KyselyImageStore(db);
    this.projects = new KyselyProjectStore(db);
    this.gc = new KyselyGcStore(db);
    this.integrity = new KyselyIntegrityStore(db);
    this.quotas = new KyselyQuotaStore(db);
    this.stats = new KyselyStatsStore(db);
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('users').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
