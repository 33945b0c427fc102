import type { Kysely } from 'kysely';
import type { UploadIndex, UploadRecord } from '../metadata-store.ts';
import { PreparedQuery } from './prepared-query.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** A point lookup every /v2 request makes, compiled once (see PreparedQuery). */
const uploadById = new PreparedQuery((db: Db, id: string) => db.selectFrom('uploads').selectAll().where('id', '=', id));


export class KyselyUploads implements UploadIndex {
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
