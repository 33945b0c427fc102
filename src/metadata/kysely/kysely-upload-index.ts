import type { Kysely } from 'kysely';
import type { ImageRecord, UploadIndex, UploadRecord } from '../metadata-store.ts';
import { PreparedQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

// Every upload request makes these; compiled once (see PreparedQuery).
const uploadById = new PreparedQuery((db: Db, id: string) => db.selectFrom('uploads').selectAll().where('id', '=', id));
const uploadInImage = new PreparedQuery((db: Db, imageName: string, id: string) =>
  db
    .selectFrom('uploads')
    .innerJoin('images', 'images.id', 'uploads.image_id')
    .select([
      'uploads.id', 'uploads.image_id', 'uploads.created_at', 'uploads.updated_at',
      'images.name', 'images.project', 'images.repo', 'images.image', 'images.created_by as image_created_by', 'images.created_at as image_created_at',
    ])
    .where('uploads.id', '=', id)
    .where('images.name', '=', imageName),
);
const insertUpload = new PreparedQuery((db: Db, id: string, imageId: number, createdAt: number, updatedAt: number) =>
  db.insertInto('uploads').values({ id, image_id: imageId, created_at: createdAt, updated_at: updatedAt }),
);
const touchUpload = new PreparedQuery((db: Db, id: string, now: number) => db.updateTable('uploads').set({ updated_at: now }).where('id', '=', id));
const deleteUpload = new PreparedQuery((db: Db, id: string) => db.deleteFrom('uploads').where('id', '=', id));

/** Deletes the upload session `id` (in `db`, which may be a transaction); harmless when it is gone. */
export async function deleteUploadRow(db: Db, id: string): Promise<void> {
  await deleteUpload.execute(db, id);
}

export class KyselyUploads implements UploadIndex {
  constructor(private readonly db: Db) {}

  async create(u: UploadRecord): Promise<void> {
    await insertUpload.execute(this.db, u.id, u.imageId, u.createdAt, u.updatedAt);
  }

  async get(id: string): Promise<UploadRecord | undefined> {
    const row = await uploadById.first(this.db, id);
    return row && { id: row.id, imageId: Number(row.image_id), createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) };
  }

  async findInImage(imageName: string, id: string): Promise<{ upload: UploadRecord; image: ImageRecord } | undefined> {
    const row = await uploadInImage.first(this.db, imageName, id);
    if (!row) return undefined;
    const imageId = Number(row.image_id);
    return {
      upload: { id: row.id, imageId, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) },
      image: { id: imageId, name: row.name, project: row.project, repo: row.repo, image: row.image, createdBy: row.image_created_by, createdAt: Number(row.image_created_at) },
    };
  }

  async touch(id: string, now: number): Promise<boolean> {
    return (await touchUpload.affected(this.db, id, now)) > 0;
  }

  async delete(id: string): Promise<void> {
    await deleteUploadRow(this.db, id);
  }
}
