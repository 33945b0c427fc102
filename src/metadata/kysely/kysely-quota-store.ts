import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { QuotaAdds, QuotaStore } from '../quota-store.ts';
import { chunked } from './chunked.ts';
import { PreparedQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** A stored quota: NULL and 0 both mean unlimited. */
export const quotaOf = (value: number | string | null): number | null => (value === null || Number(value) <= 0 ? null : Number(value));

/** The project and repo an image belongs to, with their settings that a push must obey. */
export interface PushTarget {
  project: string;
  repo: string;
  /** > 0 when set. */
  projectQuota: number;
  repoQuota: number;
  immutableTags: boolean;
}

/** One indexed lookup: what the push paths need to know about the image's project and repo. */
/** Every push reads this, compiled once (see PreparedQuery). */
const pushTargetOf = new PreparedQuery((db: Db, imageId: number) =>
  db
    .selectFrom('images')
    .leftJoin('projects', 'projects.name', 'images.project')
    .leftJoin('repos', (j) => j.onRef('repos.project', '=', 'images.project').onRef('repos.name', '=', 'images.repo'))
    .select(['images.project', 'images.repo', 'projects.quota_bytes as pq', 'repos.quota_bytes as rq', 'repos.immutable_tags as immutable'])
    .where('images.id', '=', imageId),
);

export async function pushTarget(db: Db, imageId: number): Promise<PushTarget | undefined> {
  const row = await pushTargetOf.first(db, imageId);
  return row && {
    project: row.project,
    repo: row.repo,
    projectQuota: Number(row.pq ?? 0),
    repoQuota: Number(row.rq ?? 0),
    immutableTags: Number(row.immutable ?? 0) === 1,
  };
}

/** Images of the project, or of one repo of it, as a SQL condition on `i`. */
function scopeOf(project: string, repo: string | undefined): RawBuilder<unknown> {
  return repo === undefined ? sql`i.project = ${project}` : sql`i.project = ${project} AND i.repo = ${repo}`;
}

/** Bytes of the distinct blobs linked to the scope's images plus its distinct manifests. */
export async function usedBytes(db: Db, project: string, repo?: string): Promise<number> {
  const scope = scopeOf(project, repo);
  const { rows } = await sql<{ blob_bytes: number | string | null; manifest_bytes: number | string | null }>`
    SELECT
      (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
        (SELECT ib.digest FROM image_blobs ib JOIN images i ON i.id = ib.image_id WHERE ${scope})) AS blob_bytes,
      (SELECT COALESCE(SUM(m.size), 0) FROM
        (SELECT mm.digest, MAX(mm.size) AS size FROM manifests mm JOIN images i ON i.id = mm.image_id WHERE ${scope} GROUP BY mm.digest) m) AS manifest_bytes
  `.execute(db);
  const row = rows[0];
  return Number(row?.blob_bytes ?? 0) + Number(row?.manifest_bytes ?? 0);
}

/** Bytes `adds` would add to the scope: blobs and manifest not already in it. */
async function addedBytes(db: Db, project: string, repo: string | undefined, adds: QuotaAdds): Promise<number> {
  const scope = scopeOf(project, repo);
  const sizes = new Map(adds.blobs.map((b) => [b.digest, b.size]));
  let added = 0;
  const present = new Set<string>();
  for (const part of chunked([...sizes.keys()])) {
    const { rows } = await sql<{ digest: string }>`
      SELECT DISTINCT ib.digest FROM image_blobs ib JOIN images i ON i.id = ib.image_id
      WHERE ${scope} AND ib.digest IN (${sql.join(part)})
    `.execute(db);
    for (const r of rows) present.add(r.digest);
  }
  for (const [digest, size] of sizes) if (!present.has(digest)) added += size;
  if (adds.manifest) {
    const { rows } = await sql<{ x: number }>`
      SELECT 1 AS x FROM manifests m JOIN images i ON i.id = m.image_id WHERE ${scope} AND m.digest = ${adds.manifest.digest} LIMIT 1
    `.execute(db);
    if (rows.length === 0) added += adds.manifest.size;
  }
  return added;
}

function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]} (${n} bytes)`;
}

/** DENIED when adding to the scope would take it over `limit`; a push that adds nothing always passes. */
async function checkScope(db: Db, kind: 'project' | 'repo', target: PushTarget, limit: number, adds: QuotaAdds): Promise<void> {
  const repo = kind === 'repo' ? target.repo : undefined;
  const added = await addedBytes(db, target.project, repo, adds);
  if (added === 0) return;
  const used = await usedBytes(db, target.project, repo);
  if (used + added <= limit) return;
  const name = kind === 'project' ? `project "${target.project}"` : `repo "${target.project}/${target.repo}"`;
  throw new RegistryError(
    'DENIED',
    `quota of ${name} exceeded: limit ${formatBytes(limit)}, used ${formatBytes(used)}, this push adds ${formatBytes(added)}`,
    { quota: kind, project: target.project, ...(repo ? { repo } : {}), limitBytes: limit, usedBytes: used, addedBytes: added },
  );
}

/** Sizes of blobs as recorded, for adds given by digest only. */
async function blobSizes(db: Db, digests: Digest[]): Promise<QuotaAdds['blobs']> {
  const out: QuotaAdds['blobs'] = [];
  for (const part of chunked([...new Set(digests)])) {
    const rows = await db.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', part).execute();
    for (const r of rows) out.push({ digest: r.digest as Digest, size: Number(r.size) });
  }
  return out;
}

/**
 * Inside a writer's transaction, before it links blobs or stores a manifest: locks the project
 * and repo rows that carry a quota (always project first, then repo: one order for everyone),
 * then checks usage with fresh statements, which see every quota-checked writer that held the
 * lock before. Without quotas this is the one lookup in `target`.
 */
export async function enforceQuota(trx: Db, target: PushTarget | undefined, blobs: Digest[], manifest?: { digest: Digest; size: number }): Promise<void> {
  if (!target || (target.projectQuota <= 0 && target.repoQuota <= 0)) return;
  const locked: PushTarget = { ...target, projectQuota: 0, repoQuota: 0 };
  if (target.projectQuota > 0) {
    const row = await trx
      .updateTable('projects')
      .set((eb) => ({ quota_bytes: eb.ref('quota_bytes') }))
      .where('name', '=', target.project)
      .where('quota_bytes', '>', 0)
      .returning('quota_bytes')
      .executeTakeFirst();
    locked.projectQuota = Number(row?.quota_bytes ?? 0);
  }
  if (target.repoQuota > 0) {
    const row = await trx
      .updateTable('repos')
      .set((eb) => ({ quota_bytes: eb.ref('quota_bytes') }))
      .where('project', '=', target.project)
      .where('name', '=', target.repo)
      .where('quota_bytes', '>', 0)
      .returning('quota_bytes')
      .executeTakeFirst();
    locked.repoQuota = Number(row?.quota_bytes ?? 0);
  }
  if (locked.projectQuota <= 0 && locked.repoQuota <= 0) return;
  const adds: QuotaAdds = { blobs: await blobSizes(trx, blobs), ...(manifest ? { manifest } : {}) };
  if (locked.projectQuota > 0) await checkScope(trx, 'project', locked, locked.projectQuota, adds);
  if (locked.repoQuota > 0) await checkScope(trx, 'repo', locked, locked.repoQuota, adds);
}

export class KyselyQuotaStore implements QuotaStore {
  constructor(private readonly db: Db) {}

  usedBytes(project: string, repo?: string): Promise<number> {
    return usedBytes(this.db, project, repo);
  }

  async check(imageId: number, adds: QuotaAdds): Promise<void> {
    const target = await pushTarget(this.db, imageId);
    if (!target) return;
    if (target.projectQuota > 0) await checkScope(this.db, 'project', target, target.projectQuota, adds);
    if (target.repoQuota > 0) await checkScope(this.db, 'repo', target, target.repoQuota, adds);
  }
}
