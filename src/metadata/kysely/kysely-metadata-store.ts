import type { StatsStore } from '../stats-store.ts';
import { KyselyStatsStore } from './kysely-stats-store.ts';
import type { Kysely, Selectable } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import type { RepositoryName } from '../../domain/names.ts';
import type {
  BlobIndex,
  ImageRecord,
  ManifestIndex,
  ManifestWithContent,
  MetadataStore,
  NamespaceStore,
  NewManifest,
  Page,
  ProjectRecord,
  RepoRecord,
  UploadIndex,
  UploadRecord,
  UserRecord,
  UserStore,
} from '../metadata-store.ts';
import type { ImageStore } from '../image-store.ts';
import type { ProjectStore } from '../project-store.ts';
import { KyselyImageStore } from './kysely-image-store.ts';
import { KyselyProjectStore } from './kysely-project-store.ts';
import type { AuthStore } from '../auth-store.ts';
import { KyselyAuthStore } from './kysely-auth-store.ts';
import { chunked } from './chunked.ts';
import type { Database } from './schema.ts';
import type { GcStore } from '../gc-store.ts';
import type { IntegrityStore } from '../integrity-store.ts';
import { KyselyGcStore, claimBlob, guardManifestRefs, holdManifest, linkBlob } from './kysely-gc-store.ts';
import { KyselyIntegrityStore } from './kysely-integrity-store.ts';
import { claimImmutableTag, parseRules, tagsPointingAt } from './kysely-tag-rules.ts';
import { enforceQuota, KyselyQuotaStore, pushTarget, quotaOf } from './kysely-quota-store.ts';
import type { QuotaStore } from '../quota-store.ts';
import { PreparedQuery } from './prepared-query.ts';

type Db = Kysely<Database>;

/** The point lookups every /v2 request makes, compiled once (see PreparedQuery). */
const imageByName = new PreparedQuery((db: Db, name: string) => db.selectFrom('images').selectAll().where('name', '=', name));
const linkedBlob = new PreparedQuery((db: Db, imageId: number, digest: string) =>
  db
    .selectFrom('image_blobs')
    .innerJoin('blobs', 'blobs.digest', 'image_blobs.digest')
    .select('blobs.size')
    .where('image_blobs.image_id', '=', imageId)
    .where('image_blobs.digest', '=', digest),
);
const manifestByDigest = new PreparedQuery((db: Db, imageId: number, digest: string) =>
  db.selectFrom('manifests').selectAll().where('image_id', '=', imageId).where('digest', '=', digest),
);
const manifestByTag = new PreparedQuery((db: Db, imageId: number, tag: string) =>
  db
    .selectFrom('tags')
    .innerJoin('manifests', (j) => j.onRef('manifests.image_id', '=', 'tags.image_id').onRef('manifests.digest', '=', 'tags.digest'))
    .selectAll('manifests')
    .where('tags.image_id', '=', imageId)
    .where('tags.name', '=', tag),
);
const uploadById = new PreparedQuery((db: Db, id: string) => db.selectFrom('uploads').selectAll().where('id', '=', id));

const toImage = (row: Selectable<Database['images']>): ImageRecord => ({
  id: Number(row.id),
  name: row.name,
  project: row.project,
  repo: row.repo,
  image: row.image,
  createdBy: row.created_by,
  createdAt: Number(row.created_at),
});

const toManifest = (row: Selectable<Database['manifests']>): ManifestWithContent => ({
  digest: row.digest as Digest,
  mediaType: row.media_type,
  artifactType: row.artifact_type,
  size: Number(row.size),
  subject: row.subject as Digest | null,
  configDigest: row.config_digest as Digest | null,
  createdAt: Number(row.created_at),
  createdBy: row.created_by,
  content: Buffer.isBuffer(row.content) ? row.content : Buffer.from(row.content),
});

class KyselyNamespaces implements NamespaceStore {
  constructor(private readonly db: Db) {}

  async getProject(name: string): Promise<ProjectRecord | undefined> {
    const row = await this.db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
    return row && {
      name: row.name,
      displayName: row.display_name,
      description: row.description,
      createdBy: row.created_by,
      createdAt: Number(row.created_at),
      quotaBytes: quotaOf(row.quota_bytes),
    };
  }

  async createProject(p: ProjectRecord): Promise<void> {
    await this.db
      .insertInto('projects')
      .values({
        name: p.name,
        display_name: p.displayName,
        description: p.description,
        created_by: p.createdBy,
        created_at: p.createdAt,
        ...(p.quotaBytes ? { quota_bytes: p.quotaBytes } : {}),
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  async getRepo(project: string, name: string): Promise<RepoRecord | undefined> {
    const row = await this.db
      .selectFrom('repos')
      .selectAll()
      .where('project', '=', project)
      .where('name', '=', name)
      .executeTakeFirst();
    return row && {
      project: row.project,
      name: row.name,
      type: row.type,
      public: Boolean(row.public),
      description: row.description,
      createdBy: row.created_by,
      createdAt: Number(row.created_at),
      quotaBytes: quotaOf(row.quota_bytes),
      immutableTags: Number(row.immutable_tags) === 1,
      retention: parseRules(row.retention),
    };
  }

  async createRepo(r: RepoRecord): Promise<void> {
    await this.db
      .insertInto('repos')
      .values({
        project: r.project,
        name: r.name,
        type: r.type,
        public: r.public ? 1 : 0,
        description: r.description,
        created_by: r.createdBy,
        created_at: r.createdAt,
        ...(r.quotaBytes ? { quota_bytes: r.quotaBytes } : {}),
        ...(r.immutableTags ? { immutable_tags: 1 } : {}),
        ...(r.retention && r.retention.length > 0 ? { retention: JSON.stringify(r.retention) } : {}),
      })
      .onConflict((oc) => oc.columns(['project', 'name']).doNothing())
      .execute();
  }

  async getImage(name: string): Promise<ImageRecord | undefined> {
    const row = await imageByName.first(this.db, name);
    return row && toImage(row);
  }

  async ensureImage(name: RepositoryName, createdBy: string, now: number): Promise<ImageRecord> {
    await this.db
      .insertInto('images')
      .values({ name: name.full, project: name.project, repo: name.repo, image: name.image, created_by: createdBy, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const image = await this.getImage(name.full);
    if (!image) throw new Error(`image ${name.full} vanished right after it was created`);
    return image;
  }

  async listImageNames(page: Page): Promise<string[]> {
    let q = this.db.selectFrom('images').select('name').orderBy('name');
    if (page.last !== undefined) q = q.where('name', '>', page.last);
    if (page.limit !== undefined) q = q.limit(page.limit);
    return (await q.execute()).map((r) => r.name);
  }
}

class KyselyBlobs implements BlobIndex {
  constructor(private readonly db: Db) {}

  async putBlob(digest: Digest, size: number, now: number): Promise<void> {
    await claimBlob(this.db, digest, size, now);
  }

  async getBlob(digest: Digest): Promise<{ size: number } | undefined> {
    const row = await this.db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
    return row && { size: Number(row.size) };
  }

  async link(imageId: number, digest: Digest, now: number): Promise<boolean> {
    return linkBlob(this.db, imageId, digest, now);
  }

  async getLinked(imageId: number, digest: Digest): Promise<{ size: number } | undefined> {
    const row = await linkedBlob.first(this.db, imageId, digest);
    return row && { size: Number(row.size) };
  }

  async linkedSizes(imageId: number, digests: Digest[]): Promise<Map<Digest, number>> {
    const found = new Map<Digest, number>();
    for (const part of chunked([...new Set(digests)])) {
      const rows = await this.db
        .selectFrom('image_blobs')
        .innerJoin('blobs', 'blobs.digest', 'image_blobs.digest')
        .select(['blobs.digest', 'blobs.size'])
        .where('image_blobs.image_id', '=', imageId)
        .where('image_blobs.digest', 'in', part)
        .execute();
      for (const r of rows) found.set(r.digest as Digest, Number(r.size));
    }
    return found;
  }

  async unlink(imageId: number, digest: Digest): Promise<boolean> {
    const res = await this.db
      .deleteFrom('image_blobs')
      .where('image_id', '=', imageId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}

class KyselyManifests implements ManifestIndex {
  constructor(private readonly db: Db) {}

  async put(imageId: number, m: NewManifest, tag?: { name: string; actor: string; now: number; immutable?: boolean }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const target = await pushTarget(trx, imageId);
      await enforceQuota(trx, target, m.blobRefs, { digest: m.digest, size: m.size });
      if (m.verifyRefs) await guardManifestRefs(trx, imageId, m.blobRefs, m.manifestRefs, m.createdAt);
      const inserted = await trx
        .insertInto('manifests')
        .values({
          image_id: imageId,
          digest: m.digest,
          media_type: m.mediaType,
          artifact_type: m.artifactType,
          size: m.size,
          subject: m.subject,
          config_digest: m.configDigest,
          content: m.content,
          created_at: m.createdAt,
          created_by: m.createdBy,
          total_size: m.totalSize,
          facts: m.facts ? JSON.stringify(m.facts) : null,
        })
        .onConflict((oc) => oc.columns(['image_id', 'digest']).doNothing())
        .executeTakeFirst();
      if (m.verifyRefs) await holdManifest(trx, imageId, m.digest);
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) {
        const refs = [
          ...[...new Set(m.blobRefs)].map((ref) => ({ image_id: imageId, digest: m.digest, ref, kind: 'blob' })),
          ...[...new Set(m.manifestRefs)].map((ref) => ({ image_id: imageId, digest: m.digest, ref, kind: 'manifest' })),
        ];
        for (const part of chunked(refs)) {
          await trx
            .insertInto('manifest_refs')
            .values(part)
            .onConflict((oc) => oc.columns(['image_id', 'digest', 'ref']).doNothing())
            .execute();
        }
      }
      if (tag && (tag.immutable || target?.immutableTags)) await claimImmutableTag(trx, imageId, tag.name, m.digest, tag);
      else if (tag) {
        await trx
          .insertInto('tags')
          .values({
            image_id: imageId,
            name: tag.name,
            digest: m.digest,
            stage: '',
            download_count: 0,
            created_at: tag.now,
            updated_at: tag.now,
            updated_by: tag.actor,
          })
          .onConflict((oc) =>
            oc.columns(['image_id', 'name']).doUpdateSet({ digest: m.digest, updated_at: tag.now, updated_by: tag.actor }),
          )
          .execute();
      }
    });
  }

  async get(imageId: number, digest: Digest): Promise<ManifestWithContent | undefined> {
    const row = await manifestByDigest.first(this.db, imageId, digest);
    return row && toManifest(row);
  }

  async getByTag(imageId: number, tag: string): Promise<ManifestWithContent | undefined> {
    const row = await manifestByTag.first(this.db, imageId, tag);
    return row && toManifest(row);
  }

  async missing(imageId: number, digests: Digest[]): Promise<Digest[]> {
    const found = new Set<string>();
    for (const part of chunked([...new Set(digests)])) {
      const rows = await this.db
        .selectFrom('manifests')
        .select('digest')
        .where('image_id', '=', imageId)
        .where('digest', 'in', part)
        .execute();
      for (const r of rows) found.add(r.digest);
    }
    return digests.filter((d) => !found.has(d));
  }

  async delete(imageId: number, digest: Digest): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('manifests').where('image_id', '=', imageId).where('digest', '=', digest).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await trx.deleteFrom('manifest_refs').where('image_id', '=', imageId).where('digest', '=', digest).execute();
      await trx.deleteFrom('tags').where('image_id', '=', imageId).where('digest', '=', digest).execute();
      return true;
    });
  }

  async deleteTag(imageId: number, tag: string): Promise<boolean> {
    const res = await this.db.deleteFrom('tags').where('image_id', '=', imageId).where('name', '=', tag).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  tagsOf(imageId: number, digest: Digest): Promise<string[]> {
    return tagsPointingAt(this.db, imageId, digest);
  }

  async listTags(imageId: number, page: Page): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('image_id', '=', imageId).orderBy('name');
    if (page.last !== undefined) q = q.where('name', '>', page.last);
    if (page.limit !== undefined) q = q.limit(page.limit);
    return (await q.execute()).map((r) => r.name);
  }

  async totalSizes(imageId: number, digests: Digest[]): Promise<Map<Digest, number>> {
    const found = new Map<Digest, number>();
    for (const part of chunked([...new Set(digests)])) {
      const rows = await this.db
        .selectFrom('manifests')
        .select(['digest', 'total_size'])
        .where('image_id', '=', imageId)
        .where('digest', 'in', part)
        .execute();
      for (const r of rows) found.set(r.digest as Digest, Number(r.total_size));
    }
    return found;
  }

  async referrers(imageId: number, subject: Digest): Promise<ManifestWithContent[]> {
    const rows = await this.db
      .selectFrom('manifests')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('subject', '=', subject)
      .orderBy('created_at')
      .orderBy('digest')
      .execute();
    return rows.map(toManifest);
  }
}

class KyselyUploads implements UploadIndex {
  constructor(private readonly db: Db) {}

  async create(u: UploadRecord): Promise<void> {
    await this.db.insertInto('uploads').values({ id: u.id, image_id: u.imageId, created_at: u.createdAt, updated_at: u.updatedAt }).execute();
  }

  async get(id: string): Promise<UploadRecord | undefined> {
    const row = await uploadById.first(this.db, id);
    return row && { id: row.id, imageId: Number(row.image_id), createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
  }

  async touch(id: string, now: number): Promise<void> {
    await this.db.updateTable('uploads').set({ updated_at: now }).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }
}

class KyselyUsers implements UserStore {
  constructor(private readonly db: Db) {}

  async getByName(name: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && {
      id: Number(row.id),
      name: row.name,
      passwordHash: row.password_hash,
      admin: Boolean(row.admin),
      disabled: Boolean(row.disabled),
      createdAt: Number(row.created_at),
    };
  }

  async create(u: Omit<UserRecord, 'id'>): Promise<UserRecord> {
    const row = await this.db
      .insertInto('users')
      .values({ name: u.name, password_hash: u.passwordHash, admin: u.admin ? 1 : 0, disabled: u.disabled ? 1 : 0, created_at: u.createdAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...u, id: Number(row.id) };
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}

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
