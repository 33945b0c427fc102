import { type Kysely, sql } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import type { GcBlob } from '../gc-store.ts';
import type { BrokenRef, DanglingTag, IntegrityStore } from '../integrity-store.ts';
import { chunked, IN_CHUNK, PAIR_CHUNK } from './chunked.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export class KyselyIntegrityStore implements IntegrityStore {
  constructor(private readonly db: Db) {}

  async blobs(after: Digest | undefined, limit: number): Promise<GcBlob[]> {
    let q = this.db.selectFrom('blobs').select(['digest', 'size']).orderBy('digest').limit(limit);
    if (after !== undefined) q = q.where('digest', '>', after);
    return (await q.execute()).map((r) => ({ digest: r.digest as Digest, size: Number(r.size) }));
  }

  async brokenRefs(limit: number): Promise<BrokenRef[]> {
    const rows = await this.db
      .selectFrom('manifest_refs as r')
      .innerJoin('images as i', 'i.id', 'r.image_id')
      .select(['i.name', 'r.digest', 'r.ref', 'r.kind'])
      .where((eb) =>
        eb.or([
          eb.and([
            eb('r.kind', '=', 'blob'),
            eb.not(eb.exists(eb.selectFrom('blobs as b').select(sql`1`.as('x')).whereRef('b.digest', '=', 'r.ref').where('b.deleting', '=', 0))),
          ]),
          eb.and([
            eb('r.kind', '=', 'manifest'),
            eb.not(eb.exists(eb.selectFrom('manifests as m').select(sql`1`.as('x')).whereRef('m.image_id', '=', 'r.image_id').whereRef('m.digest', '=', 'r.ref'))),
          ]),
        ]),
      )
      .orderBy('i.name')
      .orderBy('r.digest')
      .orderBy('r.ref')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ image: r.name, manifest: r.digest as Digest, ref: r.ref as Digest, kind: r.kind === 'manifest' ? 'manifest' : 'blob' }));
  }

  async danglingTags(limit: number): Promise<DanglingTag[]> {
    const rows = await this.db
      .selectFrom('tags as t')
      .leftJoin('images as i', 'i.id', 't.image_id')
      .select(['t.image_id', 'i.name as image', 't.name', 't.digest'])
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifests as m').select(sql`1`.as('x')).whereRef('m.image_id', '=', 't.image_id').whereRef('m.digest', '=', 't.digest'))))
      .orderBy('t.image_id')
      .orderBy('t.name')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ imageId: Number(r.image_id), image: r.image ?? `#${r.image_id}`, tag: r.name, digest: r.digest as Digest }));
  }

  private orphanLinks() {
    return this.db
      .selectFrom('image_blobs as l')
      .where((eb) =>
        eb.or([
          eb.not(eb.exists(eb.selectFrom('blobs as b').select(sql`1`.as('x')).whereRef('b.digest', '=', 'l.digest'))),
          eb.not(eb.exists(eb.selectFrom('images as i').select(sql`1`.as('x')).whereRef('i.id', '=', 'l.image_id'))),
        ]),
      );
  }

  private orphanRefs() {
    return this.db
      .selectFrom('manifest_refs as r')
      .where((eb) =>
        eb.not(eb.exists(eb.selectFrom('manifests as m').select(sql`1`.as('x')).whereRef('m.image_id', '=', 'r.image_id').whereRef('m.digest', '=', 'r.digest'))),
      );
  }

  async orphanRows(): Promise<{ links: number; refs: number }> {
    const links = await this.orphanLinks().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const refs = await this.orphanRefs().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { links: Number(links.n), refs: Number(refs.n) };
  }

  async dropBlobs(digests: Digest[]): Promise<void> {
    for (const part of chunked(digests, IN_CHUNK)) {
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('image_blobs').where('digest', 'in', part).execute();
        await trx.deleteFrom('blobs').where('digest', 'in', part).execute();
      });
    }
  }

  async dropTags(tags: DanglingTag[]): Promise<void> {
    for (const part of chunked(tags, PAIR_CHUNK)) {
      await this.db
        .deleteFrom('tags')
        .where((eb) => eb.or(part.map((t) => eb.and([eb('image_id', '=', t.imageId), eb('name', '=', t.tag), eb('digest', '=', t.digest)]))))
        .execute();
    }
  }

  async dropOrphanRows(): Promise<{ links: number; refs: number }> {
    const links = (await this.orphanLinks().select(['l.image_id', 'l.digest']).execute()).map((r) => ({ imageId: Number(r.image_id), digest: r.digest }));
    const refs = (await this.orphanRefs().select(['r.image_id', 'r.digest']).distinct().execute()).map((r) => ({ imageId: Number(r.image_id), digest: r.digest }));
    for (const part of chunked(links, PAIR_CHUNK)) {
      await this.db
        .deleteFrom('image_blobs')
        .where((eb) => eb.or(part.map((p) => eb.and([eb('image_id', '=', p.imageId), eb('digest', '=', p.digest)]))))
        .execute();
    }
    let refRows = 0;
    for (const part of chunked(refs, PAIR_CHUNK)) {
      const res = await this.db
        .deleteFrom('manifest_refs')
        .where((eb) => eb.or(part.map((p) => eb.and([eb('image_id', '=', p.imageId), eb('digest', '=', p.digest)]))))
        .where((eb) =>
          eb.not(eb.exists(eb.selectFrom('manifests as m').select(sql`1`.as('x')).whereRef('m.image_id', '=', 'manifest_refs.image_id').whereRef('m.digest', '=', 'manifest_refs.digest'))),
        )
        .executeTakeFirst();
      refRows += Number(res.numDeletedRows);
    }
    return { links: links.length, refs: refRows };
  }
}
