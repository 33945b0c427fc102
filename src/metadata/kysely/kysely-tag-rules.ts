import type { Kysely } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { RetentionRule } from '../../domain/retention.ts';
import type { RetentionRepo, RetentionTagRow } from '../gc-store.ts';
import { chunked, PAIR_CHUNK } from './chunked.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/**
 * Inside a manifest put's transaction, for a repo with immutable tags: creates the tag, or
 * refreshes it when it already points at `digest`; DENIED when it points at another digest.
 * One upsert whose update only applies to the same digest, so two concurrent first pushes of
 * one tag with different digests cannot both win.
 */
export async function claimImmutableTag(trx: Db, imageId: number, name: string, digest: Digest, tag: { actor: string; now: number }): Promise<void> {
  const res = await trx
    .insertInto('tags')
    .values({ image_id: imageId, name, digest, stage: '', download_count: 0, created_at: tag.now, updated_at: tag.now, updated_by: tag.actor })
    .onConflict((oc) => oc.columns(['image_id', 'name']).doUpdateSet({ updated_at: tag.now, updated_by: tag.actor }).where('tags.digest', '=', digest))
    .executeTakeFirst();
  if (Number(res.numInsertedOrUpdatedRows ?? 0n) > 0) return;
  const current = await trx.selectFrom('tags').select('digest').where('image_id', '=', imageId).where('name', '=', name).executeTakeFirst();
  throw new RegistryError(
    'DENIED',
    `tag "${name}" is immutable in this repository and points at ${current?.digest ?? 'another manifest'}; push under a new tag`,
    { tag: name, digest: current?.digest, immutable: true },
  );
}

export function parseRules(text: string | null | undefined): RetentionRule[] {
  if (!text) return [];
  try {
    const rules = JSON.parse(text) as unknown;
    return Array.isArray(rules) ? (rules as RetentionRule[]) : [];
  } catch {
    return [];
  }
}

/** Repos with retention rules, in (project, name) order; immutable repos are left out (their tags never go). */
export async function retentionRepos(db: Db): Promise<RetentionRepo[]> {
  const rows = await db
    .selectFrom('repos')
    .select(['project', 'name', 'retention'])
    .where('retention', 'is not', null)
    .where('immutable_tags', '=', 0)
    .orderBy('project')
    .orderBy('name')
    .execute();
  return rows.map((r) => ({ project: r.project, repo: r.name, rules: parseRules(r.retention) })).filter((r) => r.rules.length > 0);
}

/** Every tag of the repo's images with when it was last pushed. */
export async function repoTags(db: Db, project: string, repo: string): Promise<RetentionTagRow[]> {
  const rows = await db
    .selectFrom('tags')
    .innerJoin('images', 'images.id', 'tags.image_id')
    .select(['tags.image_id', 'images.image', 'tags.name', 'tags.digest', 'tags.updated_at'])
    .where('images.project', '=', project)
    .where('images.repo', '=', repo)
    .orderBy('tags.image_id')
    .execute();
  return rows.map((r) => ({ imageId: Number(r.image_id), image: r.image, name: r.name, digest: r.digest as Digest, pushedAt: Number(r.updated_at) }));
}

/**
 * Deletes the given tags unless they were pushed again since they were read (their push time or
 * digest changed): a tag re-pushed while GC runs is the newest, and stays. Returns the deleted.
 */
export async function removeTags(db: Db, tags: RetentionTagRow[]): Promise<RetentionTagRow[]> {
  const removed: RetentionTagRow[] = [];
  for (const part of chunked(tags, PAIR_CHUNK)) {
    const rows = await db
      .deleteFrom('tags')
      .where((eb) =>
        eb.or(
          part.map((t) =>
            eb.and([eb('tags.image_id', '=', t.imageId), eb('tags.name', '=', t.name), eb('tags.digest', '=', t.digest), eb('tags.updated_at', '=', t.pushedAt)]),
          ),
        ),
      )
      .returning(['image_id', 'name'])
      .execute();
    const gone = new Set(rows.map((r) => `${Number(r.image_id)}\u0000${r.name}`));
    for (const t of part) if (gone.has(`${t.imageId}\u0000${t.name}`)) removed.push(t);
  }
  return removed;
}

/** Tags of the image pointing at `digest`. */
export async function tagsPointingAt(db: Db, imageId: number, digest: Digest): Promise<string[]> {
  const rows = await db.selectFrom('tags').select('name').where('image_id', '=', imageId).where('digest', '=', digest).orderBy('name').execute();
  return rows.map((r) => r.name);
}
