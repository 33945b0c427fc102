import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyMetadataStore } from './kysely-metadata-store.ts';
import { migrateToLatest } from './migrations/index.ts';
import type { Database } from './schema.ts';

/**
 * Opens (creating when missing) the embedded SQLite database, in WAL mode with
 * `synchronous=NORMAL`: a commit survives a process crash; only a power loss can drop the last
 * transactions, never corrupt the file.
 */
export async function openSqliteMetadata(file: string): Promise<KyselyMetadataStore> {
  const database = new SQLite(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await migrateToLatest(db, 'sqlite');
  return new KyselyMetadataStore(db);
}
