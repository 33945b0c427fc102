import type { Kysely, Migration } from 'kysely';
import { columnTypes, type Dialect } from './column-types.ts';

/** What the management API shows: image sizes and facts, per-image download counts. */
export function imageDetailsMigration(dialect: Dialect): Migration {
  const { big, text } = columnTypes(dialect);
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('manifests').addColumn('total_size', big, (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('manifests').addColumn('facts', text).execute();
      await db.schema.alterTable('images').addColumn('download_count', big, (c) => c.notNull().defaultTo(0)).execute();
    },
  };
}
