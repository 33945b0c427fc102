import type { Kysely, Migration } from 'kysely';
import { columnTypes, type Dialect } from './column-types.ts';

/** One row counting the writes to credentials (see CredentialChanges in auth-store.ts). */
export function credentialChangesMigration(dialect: Dialect): Migration {
  const { big } = columnTypes(dialect);
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('credential_changes')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('version', big, (c) => c.notNull())
        .execute();
      await db.insertInto('credential_changes').values({ id: 1, version: 0 }).execute();
    },
  };
}
