import { type Kysely, type Migration, sql } from 'kysely';
import { columnTypes, type Dialect } from './column-types.ts';

/**
 * Online garbage collection (see kysely-gc-store.ts): every new reference to a blob refreshes
 * `blobs.touched_at` (the grace period counts from it), and GC marks a blob `deleting = 1` in
 * the transaction that re-checks it is unreferenced; a marked blob can no longer be referenced.
 */
export function gcMigration(dialect: Dialect): Migration {
  const { big } = columnTypes(dialect);
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('blobs').addColumn('touched_at', big, (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('blobs').addColumn('deleting', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await sql`UPDATE blobs SET touched_at = created_at`.execute(db);
      await db.schema.createIndex('uploads_updated').on('uploads').column('updated_at').execute();
    },
  };
}
