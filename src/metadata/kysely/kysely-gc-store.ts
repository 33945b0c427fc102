import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import { RegistryError } from '../../domain/errors.ts';
import type { GcBatch, GcBlob, GcStore, ImageKey, RetentionRepo, RetentionTagRow } from '../gc-store.ts';
import { chunked, IN_CHUNK, PAIR_CHUNK } from './chunked.ts';
import { enforceQuota, pushTarget } from './kysely-quota-store.ts';
import { removeTags, repoTags, retentionRepos } from './kysely-tag-rules.ts';
import { PreparedListQuery, PreparedQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

// The writes of every blob push, compiled once (see PreparedQuery).
const insertOrTouchBlob = new PreparedQuery((db: Db, digest: string, size: number, now: number) =>
  db
    .insertInto('blobs')
    .values({ digest, size, created_at: now, touched_at: now, deleting: 0 })
    .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now }).where('blobs.deleting', '=', 0)),
);
const touchLiveBlob = new PreparedQuery((db: Db, digest: string, now: number) =>
  db.updateTable('blobs').set({ touched_at: now }).where('digest', '=', digest).where('deleting', '=', 0),
);
const touchLiveBlobs = new PreparedListQuery((db: Db, digests: readonly string[], now: number) =>
  db.updateTable('blobs').set({ touched_at: now }).where('digest', 'in', digests).where('deleting', '=', 0),
);
const upsertImageBlobs = new PreparedListQuery((db: Db, digests: readonly string[], imageId: number, now: number) =>
  db
    .insertInto('image_blobs')
    .values(digests.map((digest) => ({ image_id: imageId, digest, created_at: now })))
    .onConflict((oc) => oc.columns(['image_id', 'digest']).doUpdateSet({ created_at: now })),
);
const lockManifests = new PreparedListQuery((db: Db, digests: readonly string[], imageId: number) =>
  db
    .updateTable('manifests')
    .set((eb) => ({ created_by: eb.ref('created_by') }))
    .where('image_id', '=', imageId)
    .where('digest', 'in', digests),
);
const lockManifest = new PreparedQuery((db: Db, imageId: number, digest: string) =>
  db
    .updateTable('manifests')
    .set((eb) => ({ created_by: eb.ref('created_by') }))
    .where('image_id', '=', imageId)
    .where('digest', '=', digest),
);
const upsertImageBlob = new PreparedQuery((db: Db, imageId: number, digest: string, now: number) =>
  db
    .insertInto('image_blobs')
    .values({ image_id: imageId, digest, created_at: now })
    .onConflict((oc) => oc.columns(['image_id', 'digest']).doUpdateSet({ created_at: now })),
);

/** Runs `fn` in the current transaction, or in a new one. */
function inTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long a writer waits for GC to finish deleting a blob it wants to store again. */
const CLAIM_WAIT_MS = 10_000;
const CLAIM_POLL_MS = 25;

// -------------------------------------------------------------------------------------------
// The writer side of the protocol: every new reference touches the blob row it refers to.

/**
 * Records a blob before its bytes are committed and protects it from GC for the grace period.
 * When GC is deleting the same digest right now, waits for it to finish (the row disappears),
 * then inserts afresh; rejects with UNAVAILABLE when that takes too long (an interrupted GC run
 * left it marked: the next run finishes it).
 */
export async function claimBlob(db: Db, digest: Digest, size: number, now: number): Promise<void> {
  const deadline = Date.now() + CLAIM_WAIT_MS;
  for (;;) {
    if ((await insertOrTouchBlob.affected(db, digest, size, now)) > 0) return;
    if (Date.now() > deadline) {
      throw new RegistryError('UNAVAILABLE', `blob ${digest} is being garbage-collected; retry the upload`, { digest });
    }
    await sleep(CLAIM_POLL_MS);
  }
}

/**
 * Links a live blob to the image (refreshing the link's grace period); false when the blob is missing or being deleted.
 *
 * After an upload's claimBlob the touch writes the touched_at the claim just wrote, and the quota
 * target was read by the upload's early check; neither statement is redundant. The touch is the
 * blob row lock of the protocol above (on PostgreSQL a GC mark waits for it and then sees the
 * link, or GC marked first and the touch matches nothing) and the check that GC has not marked
 * the blob while its bytes were committed, which can outlast a short grace period. The target is
 * read again inside the transaction so that a quota set since the early check is enforced.
 */
export async function linkBlob(db: Db, imageId: number, digest: Digest, now: number): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    await enforceQuota(trx, await pushTarget(trx, imageId), [digest]);
    if ((await touchLiveBlob.affected(trx, digest, now)) === 0) return false;
    await upsertImageBlob.execute(trx, imageId, digest, now);
    return true;
  });
}

/**
 * Inside a manifest put's transaction, before the manifest is stored: touches every referenced
 * blob (which must be live) and re-links it to the image, and locks every child manifest (which
 * must be a manifest of the image). Rows are touched in digest order so concurrent puts sharing
 * blobs lock them in the same order. Rejects with MANIFEST_BLOB_UNKNOWN or MANIFEST_UNKNOWN (400).
 */
export async function guardManifestRefs(trx: Db, imageId: number, blobRefs: Digest[], manifestRefs: Digest[], now: number): Promise<void> {
  const blobs = [...new Set(blobRefs)].sort();
  let touched = 0;
  for (const part of chunked(blobs, IN_CHUNK)) touched += await touchLiveBlobs.affected(trx, part, now);
  if (touched < blobs.length) {
    const live = new Set<string>();
    for (const part of chunked(blobs, IN_CHUNK)) {
      const rows = await trx.selectFrom('blobs').select('digest').where('digest', 'in', part).where('deleting', '=', 0).execute();
      for (const r of rows) live.add(r.digest);
    }
    const missing = blobs.filter((d) => !live.has(d));
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${missing[0]} is not in the registry (it was garbage-collected); push it again`, { digest: missing[0], digests: missing });
  }
  for (const part of chunked(blobs, IN_CHUNK)) await upsertImageBlobs.execute(trx, part, imageId, now);
  const children = [...new Set(manifestRefs)].sort();
  let locked = 0;
  for (const part of chunked(children, IN_CHUNK)) locked += await lockManifests.affected(trx, part, imageId);
  if (locked < children.length) {
    throw new RegistryError('MANIFEST_BLOB_UNKNOWN', 'a manifest referenced by the index is no longer in the repository (it was garbage-collected); push it again', { digests: children });
  }
}

/**
 * Inside a manifest put's transaction, after an insert that found the manifest already there (a
 * re-push, a new tag): locks the row so GC cannot remove it before the tag lands. A no-op update
 * (`created_by = created_by`) because that is the row lock both dialects have: GC's lock step
 * then waits for the tag and sees it; when GC locked first and deleted the manifest, this matches
 * nothing and the put fails instead of tagging a manifest that is gone.
 */
export async function holdManifest(trx: Db, imageId: number, digest: Digest): Promise<void> {
  if ((await lockManifest.affected(trx, imageId, digest)) === 0) {
    throw new RegistryError('MANIFEST_INVALID', 'the manifest was garbage-collected while it was pushed; push it again', { digest });
  }
}

// -------------------------------------------------------------------------------------------
// The collector side.

type ManifestsEb = ExpressionBuilder<Database, 'manifests'>;
type LinksEb = ExpressionBuilder<Database, 'image_blobs'>;
type BlobsEb = ExpressionBuilder<Database, 'blobs'>;

function untagged(cutoff: number) {
  return (eb: ManifestsEb) =>
    eb.and([
      eb('manifests.created_at', '<', cutoff),
      eb.not(eb.exists(eb.selectFrom('tags').select(sql`1`.as('x')).whereRef('tags.image_id', '=', 'manifests.image_id').whereRef('tags.digest', '=', 'manifests.digest'))),
      eb.not(
        eb.exists(
          eb
            .selectFrom('manifest_refs')
            .select(sql`1`.as('x'))
            .whereRef('manifest_refs.image_id', '=', 'manifests.image_id')
            .whereRef('manifest_refs.ref', '=', 'manifests.digest')
            .where('manifest_refs.kind', '=', 'manifest'),
        ),
      ),
      eb.or([
        eb('manifests.subject', 'is', null),
        eb.not(eb.exists(eb.selectFrom('manifests as s').select(sql`1`.as('x')).whereRef('s.image_id', '=', 'manifests.image_id').whereRef('s.digest', '=', 'manifests.subject'))),
      ]),
    ]);
}

function staleLink(cutoff: number) {
  return (eb: LinksEb) =>
    eb.and([
      eb('image_blobs.created_at', '<', cutoff),
      eb.not(
        eb.exists(
          eb
            .selectFrom('manifest_refs')
            .select(sql`1`.as('x'))
            .whereRef('manifest_refs.image_id', '=', 'image_blobs.image_id')
            .whereRef('manifest_refs.ref', '=', 'image_blobs.digest')
            .where('manifest_refs.kind', '=', 'blob'),
        ),
      ),
    ]);
}

function referenced(eb: BlobsEb) {
  return eb.or([
    eb.exists(eb.selectFrom('image_blobs').select(sql`1`.as('x')).whereRef('image_blobs.digest', '=', 'blobs.digest')),
    eb.exists(eb.selectFrom('manifest_refs').select(sql`1`.as('x')).whereRef('manifest_refs.ref', '=', 'blobs.digest').where('manifest_refs.kind', '=', 'blob')),
  ]);
}

function garbageBlob(cutoff: number) {
  return (eb: BlobsEb) => eb.and([eb('blobs.deleting', '=', 0), eb('blobs.touched_at', '<', cutoff), eb.not(referenced(eb))]);
}

/** `(image_id, digest) IN pairs`, portable to both dialects. */
function pairsIn(prefix: 'manifests' | 'image_blobs', pairs: ImageKey[]) {
  return (eb: ExpressionBuilder<Database, typeof prefix>) =>
    eb.or(pairs.map((p) => eb.and([eb(`${prefix}.image_id`, '=', p.imageId), eb(`${prefix}.digest`, '=', p.digest)])));
}

function after(prefix: 'manifests' | 'image_blobs', key: ImageKey | undefined) {
  return (eb: ExpressionBuilder<Database, typeof prefix>) =>
    key === undefined
      ? eb.lit(true)
      : eb.or([eb(`${prefix}.image_id`, '>', key.imageId), eb.and([eb(`${prefix}.image_id`, '=', key.imageId), eb(`${prefix}.digest`, '>', key.digest)])]);
}

const toKey = (r: { image_id: number; digest: string }): ImageKey => ({ imageId: Number(r.image_id), digest: r.digest as Digest });

const ROLLBACK = Symbol('dry run rollback');

/**
 * GC's lock-then-recheck step over (image, digest) rows: per chunk of `candidates`, one
 * transaction locks the rows still eligible (`lock`, a no-op update) and deletes those still
 * eligible (`remove`, a fresh statement that sees every writer that held a lock before us).
 * Returns what was deleted, and the cursor for the next batch when `limit` candidates came.
 */
async function lockThenDelete(
  db: Db,
  candidates: ImageKey[],
  limit: number,
  lock: (trx: Db, part: ImageKey[]) => Promise<ImageKey[]>,
  remove: (trx: Db, locked: ImageKey[]) => Promise<ImageKey[]>,
): Promise<GcBatch<ImageKey, ImageKey>> {
  const removed: ImageKey[] = [];
  for (const part of chunked(candidates, PAIR_CHUNK)) {
    await inTransaction(db, async (trx) => {
      const locked = await lock(trx, part);
      if (locked.length > 0) removed.push(...(await remove(trx, locked)));
    });
  }
  return { items: removed, ...(candidates.length === limit ? { next: candidates[candidates.length - 1] } : {}) };
}

export class KyselyGcStore implements GcStore {
  constructor(private readonly db: Db) {}

  async removeUntaggedManifests(cutoff: number, from: ImageKey | undefined, limit: number): Promise<GcBatch<ImageKey, ImageKey>> {
    const candidates = (
      await this.db
        .selectFrom('manifests')
        .select(['image_id', 'digest'])
        .where(after('manifests', from))
        .where(untagged(cutoff))
        .orderBy('image_id')
        .orderBy('digest')
        .limit(limit)
        .execute()
    ).map(toKey);
    return lockThenDelete(
      this.db,
      candidates,
      limit,
      async (trx, part) =>
        (
          await trx
            .updateTable('manifests')
            .set((eb) => ({ created_by: eb.ref('created_by') }))
            .where(pairsIn('manifests', part))
            .where(untagged(cutoff))
            .returning(['image_id', 'digest'])
            .execute()
        ).map(toKey),
      async (trx, locked) => {
        const deleted = (
          await trx.deleteFrom('manifests').where(pairsIn('manifests', locked)).where(untagged(cutoff)).returning(['image_id', 'digest']).execute()
        ).map(toKey);
        if (deleted.length > 0) {
          await trx
            .deleteFrom('manifest_refs')
            .where((eb) => eb.or(deleted.map((p) => eb.and([eb('manifest_refs.image_id', '=', p.imageId), eb('manifest_refs.digest', '=', p.digest)]))))
            .execute();
        }
        return deleted;
      },
    );
  }

  async removeStaleLinks(cutoff: number, from: ImageKey | undefined, limit: number): Promise<GcBatch<ImageKey, ImageKey>> {
    const candidates = (
      await this.db
        .selectFrom('image_blobs')
        .select(['image_id', 'digest'])
        .where(after('image_blobs', from))
        .where(staleLink(cutoff))
        .orderBy('image_id')
        .orderBy('digest')
        .limit(limit)
        .execute()
    ).map(toKey);
    return lockThenDelete(
      this.db,
      candidates,
      limit,
      async (trx, part) =>
        (
          await trx
            .updateTable('image_blobs')
            .set((eb) => ({ created_at: eb.ref('created_at') }))
            .where(pairsIn('image_blobs', part))
            .where(staleLink(cutoff))
            .returning(['image_id', 'digest'])
            .execute()
        ).map(toKey),
      async (trx, locked) =>
        (await trx.deleteFrom('image_blobs').where(pairsIn('image_blobs', locked)).where(staleLink(cutoff)).returning(['image_id', 'digest']).execute()).map(toKey),
    );
  }

  async markGarbageBlobs(cutoff: number, from: Digest | undefined, limit: number): Promise<GcBatch<GcBlob, Digest>> {
    let q = this.db.selectFrom('blobs').select('digest').where(garbageBlob(cutoff)).orderBy('digest').limit(limit);
    if (from !== undefined) q = q.where('digest', '>', from);
    const candidates = (await q.execute()).map((r) => r.digest as Digest);
    const marked: GcBlob[] = [];
    for (const part of chunked(candidates, IN_CHUNK)) {
      await inTransaction(this.db, async (trx) => {
        // Marking locks the rows; writers that touched them earlier have committed, and the
        // fresh statement below sees their links and refs and gives those blobs back.
        const rows = await trx
          .updateTable('blobs')
          .set({ deleting: 1 })
          .where('digest', 'in', part)
          .where(garbageBlob(cutoff))
          .returning(['digest', 'size'])
          .execute();
        if (rows.length === 0) return;
        const revived = await trx
          .updateTable('blobs')
          .set({ deleting: 0 })
          .where('digest', 'in', rows.map((r) => r.digest))
          .where(referenced)
          .returning('digest')
          .execute();
        const back = new Set(revived.map((r) => r.digest));
        for (const r of rows) if (!back.has(r.digest)) marked.push({ digest: r.digest as Digest, size: Number(r.size) });
      });
    }
    return { items: marked, ...(candidates.length === limit ? { next: candidates[candidates.length - 1] } : {}) };
  }

  async markedBlobs(limit: number): Promise<GcBlob[]> {
    const rows = await this.db.selectFrom('blobs').select(['digest', 'size']).where('deleting', '=', 1).orderBy('digest').limit(limit).execute();
    return rows.map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
  }

  async forgetBlobs(digests: Digest[]): Promise<void> {
    for (const part of chunked(digests, IN_CHUNK)) {
      await this.db.deleteFrom('blobs').where('digest', 'in', part).where('deleting', '=', 1).execute();
    }
  }

  async expiredUploads(updatedBefore: number, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('uploads').select('id').where('updated_at', '<', updatedBefore).orderBy('updated_at').limit(limit).execute();
    return rows.map((r) => r.id);
  }

  async existingUploads(ids: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const part of chunked(ids, IN_CHUNK)) {
      for (const r of await this.db.selectFrom('uploads').select('id').where('id', 'in', part).execute()) found.add(r.id);
    }
    return found;
  }

  async existingBlobs(digests: Digest[]): Promise<Set<Digest>> {
    const found = new Set<Digest>();
    for (const part of chunked(digests, IN_CHUNK)) {
      for (const r of await this.db.selectFrom('blobs').select('digest').where('digest', 'in', part).execute()) found.add(r.digest as Digest);
    }
    return found;
  }

  retentionRepos(): Promise<RetentionRepo[]> {
    return retentionRepos(this.db);
  }

  repoTags(project: string, repo: string): Promise<RetentionTagRow[]> {
    return repoTags(this.db, project, repo);
  }

  removeTags(tags: RetentionTagRow[]): Promise<RetentionTagRow[]> {
    return removeTags(this.db, tags);
  }

  async dryRun<T>(fn: (gc: GcStore) => Promise<T>): Promise<T> {
    let result: { value: T } | undefined;
    try {
      await this.db.transaction().execute(async (trx) => {
        result = { value: await fn(new KyselyGcStore(trx)) };
        throw ROLLBACK;
      });
    } catch (err) {
      if (err !== ROLLBACK) throw err;
    }
    return result!.value;
  }
}
