import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { KyselyMetadataStore } from './kysely-metadata-store.ts';
import { migrateToLatest } from './migrations/index.ts';
import type { Database } from './schema.ts';

/** Distinct SQL texts kept prepared; IN lists of varying length make the set open-ended. */
const STATEMENT_CACHE_MAX = 1000;

/**
 * Kysely's SQLite driver prepares every query anew, which costs more than running a point
 * lookup. This keeps prepared statements by SQL text. Safe because better-sqlite3 runs
 * `all`/`run` synchronously to completion; a statement still being iterated (`busy`, from
 * Kysely's streamQuery) is never handed out again, a fresh one is prepared instead.
 */
export function cachingStatements(database: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(sql: string): SqliteStatement {
      let stmt = cache.get(sql);
      if (stmt === undefined || stmt.busy) {
        stmt = database.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_MAX) cache.clear();
        if (!cache.has(sql)) cache.set(sql, stmt);
      }
      return stmt as unknown as SqliteStatement;
    },
    close(): void {
      cache.clear();
      database.close();
    },
  };
}

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
  // Sorts and temporary indexes (tag listings) stay in memory instead of temporary files.
  database.pragma('temp_store = MEMORY');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(database) }) });
  await migrateToLatest(db, 'sqlite');
  return new KyselyMetadataStore(db);
}
