import { type Kysely, sql } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import type { ImageFacts } from '../../domain/image-facts.ts';
import type { DownloadEvent, ImageStore, ImageSummary, OffsetPage, Paged, TagDetail, TagSummary } from '../image-store.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** The columns a tag summary needs. */
interface SummaryRow {
  name: string;
  digest: string;
  stage: string;
  download_count: number | bigint;
  updated_by: string;
  updated_at: number | bigint;
  total_size: number | bigint;
  media_type: string;
}

/**
 * Escapes LIKE wildcards so a user's filter is matched literally. Image names are lowercase and
 * callers lowercase the filter: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
 */
function likePattern(substring: string): string {
  return `%${substring.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function parseFacts(text: string | null): ImageFacts | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as ImageFacts;
  } catch {
    return null;
  }
}

export class KyselyImageStore implements ImageStore {
  constructor(private readonly db: Db) {}

  async list(project: string, repo: string, page: OffsetPage, nameContains?: string): Promise<Paged<ImageSummary>> {
    let base = this.db.selectFrom('images').where('project', '=', project).where('repo', '=', repo);
    if (nameContains) base = base.where(sql<boolean>`image LIKE ${likePattern(nameContains.toLowerCase())} ESCAPE '\\'`);
    const total = await base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await base
      .select(['id', 'image', 'created_by', 'created_at', 'download_count'])
      .orderBy('image')
      .offset(page.offset)
      .limit(page.limit)
      .execute();
    return {
      total: Number(total.n),
      items: rows.map((r) => ({
        id: Number(r.id),
        image: r.image,
        createdBy: r.created_by,
        createdAt: Number(r.created_at),
        downloadCount: Number(r.download_count),
      })),
    };
  }

  private tagQuery(imageId: number) {
    return this.db
      .selectFrom('tags')
      .innerJoin('manifests', (j) => j.onRef('manifests.image_id', '=', 'tags.image_id').onRef('manifests.digest', '=', 'tags.digest'))
      .where('tags.image_id', '=', imageId)
      .select([
        'tags.name',
        'tags.digest',
        'tags.stage',
        'tags.download_count',
        'tags.updated_by',
        'tags.updated_at',
        'manifests.total_size',
        'manifests.media_type',
        'manifests.config_digest',
        'manifests.facts',
      ]);
  }

  private toSummary(r: SummaryRow): TagSummary {
    return {
      tag: r.name,
      digest: r.digest as Digest,
      stage: r.stage,
      size: Number(r.total_size),
      downloadCount: Number(r.download_count),
      lastModifiedBy: r.updated_by,
      lastModifiedAt: Number(r.updated_at),
      mediaType: r.media_type,
    };
  }

  async tags(imageId: number, page: OffsetPage): Promise<Paged<TagSummary>> {
    // The offset is skipped on the tags index alone; only the page's rows are joined with their
    // manifests (joining first made page k cost k pages of manifest lookups).
    const pageOfTags = this.db
      .selectFrom('tags')
      .select(['name', 'digest', 'stage', 'download_count', 'updated_by', 'updated_at'])
      .where('image_id', '=', imageId)
      .orderBy('name')
      .limit(page.limit)
      .offset(page.offset)
      .as('t');
    const rows = await this.db
      .selectFrom(pageOfTags)
      .innerJoin('manifests', (j) => j.on('manifests.image_id', '=', imageId).onRef('manifests.digest', '=', 't.digest'))
      .select(['t.name', 't.digest', 't.stage', 't.download_count', 't.updated_by', 't.updated_at', 'manifests.total_size', 'manifests.media_type'])
      .orderBy('t.name')
      .execute();
    const items = rows.map((r) => this.toSummary(r));
    // A page that is neither empty nor full is the last one: it tells the total without counting.
    if (items.length > 0 && items.length < page.limit) return { total: page.offset + items.length, items };
    const total = await this.db
      .selectFrom('tags')
      .where('image_id', '=', imageId)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return { total: Number(total.n), items };
  }

  async tag(imageId: number, tag: string): Promise<TagDetail | undefined> {
    const row = await this.tagQuery(imageId).where('tags.name', '=', tag).executeTakeFirst();
    return row && { ...this.toSummary(row), configDigest: row.config_digest as Digest | null, facts: parseFacts(row.facts) };
  }

  async manifestFacts(imageId: number, digest: Digest): Promise<{ configDigest: Digest | null; size: number; facts: ImageFacts | null } | undefined> {
    const row = await this.db
      .selectFrom('manifests')
      .select(['config_digest', 'total_size', 'facts'])
      .where('image_id', '=', imageId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row && { configDigest: row.config_digest as Digest | null, size: Number(row.total_size), facts: parseFacts(row.facts) };
  }

  async setStage(imageId: number, tag: string, stage: string): Promise<boolean> {
    const res = await this.db.updateTable('tags').set({ stage }).where('image_id', '=', imageId).where('name', '=', tag).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async delete(imageId: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('tags').where('image_id', '=', imageId).execute();
      await trx.deleteFrom('manifest_refs').where('image_id', '=', imageId).execute();
      await trx.deleteFrom('manifests').where('image_id', '=', imageId).execute();
      await trx.deleteFrom('image_blobs').where('image_id', '=', imageId).execute();
      await trx.deleteFrom('uploads').where('image_id', '=', imageId).execute();
      const res = await trx.deleteFrom('images').where('id', '=', imageId).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  async addDownloads(events: DownloadEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const e of events) {
        await trx
          .updateTable('images')
          .set((eb) => ({ download_count: eb('download_count', '+', e.count) }))
          .where('name', '=', e.image)
          .execute();
        if (e.tag !== undefined) {
          await trx
            .updateTable('tags')
            .set((eb) => ({ download_count: eb('download_count', '+', e.count) }))
            .where('name', '=', e.tag)
            .where('image_id', '=', (eb) => eb.selectFrom('images').select('id').where('name', '=', e.image))
            .execute();
        }
      }
    });
  }
}
