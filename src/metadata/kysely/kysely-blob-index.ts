import type { Kysely } from 'kysely';
import type { Digest } from '../../domain/digest.ts';
import type { BlobIndex } from '../metadata-store.ts';
import { chunked } from './chunked.ts';
import { claimBlob, linkBlob } from './kysely-gc-store.ts';
import { deleteUploadRow } from './kysely-upload-index.ts';
import { PreparedListQuery, PreparedQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** Point lookups every /v2 request makes, compiled once (see PreparedQuery). */
const linkedBlob = new PreparedQuery((db: Db, imageId: number, digest: string) =>
  db
    .selectFrom('image_blobs')
    .innerJoin('blobs', 'blobs.digest', 'image_blobs.digest')
    .select('blobs.size')
    .where('image_blobs.image_id', '=', imageId)
    .where('image_blobs.digest', '=', digest),
);

const linkedBlobByImageName = new PreparedQuery((db: Db, imageName: string, digest: string) =>
  db
    .selectFrom('images')
    .innerJoin('image_blobs', 'image_blobs.image_id', 'images.id')
    .innerJoin('blobs', 'blobs.digest', 'image_blobs.digest')
    .select('blobs.size')
    .where('images.name', '=', imageName)
    .where('image_blobs.digest', '=', digest),
);

const linkedBlobSizes = new PreparedListQuery((db: Db, digests: readonly string[], imageId: number) =>
  db
    .selectFrom('image_blobs')
    .innerJoin('blobs', 'blobs.digest', 'image_blobs.digest')
    .select(['blobs.digest', 'blobs.size'])
    .where('image_blobs.image_id', '=', imageId)
    .where('image_blobs.digest', 'in', digests),
);

export class KyselyBlobs implements BlobIndex {
  constructor(private readonly db: Db) {}

  async putBlob(digest: Digest, size: number, now: number): Promise<void> {
    await claimBlob(this.db, digest, size, now);
  }

  async getBlob(digest: Digest): Promise<{ size: number } | undefined> {
    const row = await this.db.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst();
    return row && { size: Number(row.size) };
  }

  async link(imageId: number, digest: Digest, now: number, uploadId?: string): Promise<boolean> {
    if (uploadId === undefined) return linkBlob(this.db, imageId, digest, now);
    // One transaction, one commit: linkBlob joins it.
    return this.db.transaction().execute(async (trx) => {
      if (!(await linkBlob(trx, imageId, digest, now))) return false;
      await deleteUploadRow(trx, uploadId);
      return true;
    });
  }

  async getLinkedByName(imageName: string, digest: Digest): Promise<{ size: number } | undefined> {
    const row = await linkedBlobByImageName.first(this.db, imageName, digest);
    return row && { size: Number(row.size) };
  }

  async getLinked(imageId: number, digest: Digest): Promise<{ size: number } | undefined> {
    const row = await linkedBlob.first(this.db, imageId, digest);
    return row && { size: Number(row.size) };
  }

  async linkedSizes(imageId: number, digests: Digest[]): Promise<Map<Digest, number>> {
    const found = new Map<Digest, number>();
    for (const part of chunked([...new Set(digests)])) {
      for (const r of await linkedBlobSizes.rows(this.db, part, imageId)) found.set(r.digest as Digest, Number(r.size));
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
