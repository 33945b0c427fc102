import type { Kysely, Selectable } from 'kysely';
import type { RepositoryName } from '../../domain/names.ts';
import type { ImageRecord, NamespaceStore, Page, ProjectRecord, RepoRecord } from '../metadata-store.ts';
import { quotaOf } from './kysely-quota-store.ts';
import { parseRules } from './kysely-tag-rules.ts';
import { PreparedQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** A point lookup every /v2 request makes, compiled once (see PreparedQuery). */
const imageByName = new PreparedQuery((db: Db, name: string) => db.selectFrom('images').selectAll().where('name', '=', name));

const toImage = (row: Selectable<Database['images']>): ImageRecord => ({
  id: Number(row.id),
  name: row.name,
  project: row.project,
  repo: row.repo,
  image: row.image,
  createdBy: row.created_by,
  createdAt: Number(row.created_at),
});


export class KyselyNamespaces implements NamespaceStore {
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
