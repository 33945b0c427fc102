import type { Kysely } from 'kysely';
import type { ProjectRecord, RepoRecord } from '../metadata-store.ts';
import type { ProjectStore, ProjectUpdate, RepoUpdate } from '../project-store.ts';
import { quotaOf } from './kysely-quota-store.ts';
import { parseRules } from './kysely-tag-rules.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;
type Trx = Parameters<Parameters<ReturnType<Db['transaction']>['execute']>[0]>[0];

/** Deletes every image of the given project (and repo) with all that hangs off it. */
async function deleteImagesOf(trx: Trx, project: string, repo?: string): Promise<void> {
  let ids = trx.selectFrom('images').select('id').where('project', '=', project);
  if (repo !== undefined) ids = ids.where('repo', '=', repo);
  for (const table of ['tags', 'manifest_refs', 'manifests', 'image_blobs', 'uploads'] as const) {
    await trx.deleteFrom(table).where('image_id', 'in', ids).execute();
  }
  let images = trx.deleteFrom('images').where('project', '=', project);
  if (repo !== undefined) images = images.where('repo', '=', repo);
  await images.execute();
}

export class KyselyProjectStore implements ProjectStore {
  constructor(private readonly db: Db) {}

  async listProjects(): Promise<ProjectRecord[]> {
    const rows = await this.db.selectFrom('projects').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      displayName: r.display_name,
      description: r.description,
      createdBy: r.created_by,
      createdAt: Number(r.created_at),
      quotaBytes: quotaOf(r.quota_bytes),
    }));
  }

  async updateProject(name: string, update: ProjectUpdate): Promise<boolean> {
    const set: { display_name?: string; description?: string; quota_bytes?: number | null } = {};
    if (update.quotaBytes !== undefined) set.quota_bytes = update.quotaBytes;
    if (update.displayName !== undefined) set.display_name = update.displayName;
    if (update.description !== undefined) set.description = update.description;
    if (Object.keys(set).length === 0) return (await this.db.selectFrom('projects').select('name').where('name', '=', name).executeTakeFirst()) !== undefined;
    const res = await this.db.updateTable('projects').set(set).where('name', '=', name).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async deleteProject(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await deleteImagesOf(trx, name);
      await trx.deleteFrom('repos').where('project', '=', name).execute();
      const res = await trx.deleteFrom('projects').where('name', '=', name).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  async listRepos(project: string): Promise<RepoRecord[]> {
    const rows = await this.db.selectFrom('repos').selectAll().where('project', '=', project).orderBy('name').execute();
    return rows.map((r) => ({
      project: r.project,
      name: r.name,
      type: r.type,
      public: Boolean(r.public),
      description: r.description,
      createdBy: r.created_by,
      createdAt: Number(r.created_at),
      quotaBytes: quotaOf(r.quota_bytes),
      immutableTags: Number(r.immutable_tags) === 1,
      retention: parseRules(r.retention),
    }));
  }

  async updateRepo(project: string, name: string, update: RepoUpdate): Promise<boolean> {
    const set: { public?: number; description?: string; quota_bytes?: number | null; immutable_tags?: number; retention?: string | null } = {};
    if (update.quotaBytes !== undefined) set.quota_bytes = update.quotaBytes;
    if (update.immutableTags !== undefined) set.immutable_tags = update.immutableTags ? 1 : 0;
    if (update.retention !== undefined) set.retention = update.retention.length > 0 ? JSON.stringify(update.retention) : null;
    if (update.public !== undefined) set.public = update.public ? 1 : 0;
    if (update.description !== undefined) set.description = update.description;
    const q = this.db.updateTable("repos").where("project", "=", project).where("name", "=", name);
    if (Object.keys(set).length === 0) {
      return (await this.db.selectFrom('repos').select('name').where('project', '=', project).where('name', '=', name).executeTakeFirst()) !== undefined;
    }
    const res = await q.set(set).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async deleteRepo(project: string, name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await deleteImagesOf(trx, project, name);
      const res = await trx.deleteFrom('repos').where('project', '=', project).where('name', '=', name).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  async countImages(project: string, repo?: string): Promise<number> {
    let q = this.db.selectFrom('images').where('project', '=', project);
    if (repo !== undefined) q = q.where('repo', '=', repo);
    const row = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
