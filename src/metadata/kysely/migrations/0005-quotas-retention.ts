import type { Kysely, Migration } from 'kysely';
import { columnTypes, type Dialect } from './column-types.ts';

/**
 * Quotas (bytes; NULL = unlimited) on projects and repos, the immutable-tags switch and the tag
 * retention rules (JSON array of {pattern, keepLast}; NULL = none) of repos.
 */
export function quotasRetentionMigration(dialect: Dialect): Migration {
  const { big, text } = columnTypes(dialect);
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('projects').addColumn('quota_bytes', big).execute();
      await db.schema.alterTable('repos').addColumn('quota_bytes', big).execute();
      await db.schema.alterTable('repos').addColumn('immutable_tags', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('repos').addColumn('retention', text).execute();
    },
  };
}
