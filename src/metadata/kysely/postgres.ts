import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { KyselyMetadataStore } from './kysely-metadata-store.ts';
import { migrateToLatest } from './migrations/index.ts';
import type { Database } from './schema.ts';

/** Key of the session-level advisory lock that serialises migrations across nodes. */
const MIGRATION_LOCK_KEY = 0x62657274; // 'bert'

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Type parsers for this pool only (the global `pg.types` stays untouched): int8 columns (sizes,
 * counts, epoch milliseconds, `count(*)`) arrive as JavaScript numbers, as they do from SQLite.
 * Every such value is far below 2^53.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

export interface PostgresOptions {
  /** Connections in this node's pool (default 10). */
  poolSize?: number;
}

/** Hides the password of a connection string for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/**
 * Opens the PostgreSQL metadata database at `url` (`postgres://user:pass@host:port/db`) and
 * brings its schema up to date. Several nodes may start at once: migrations run while this node
 * holds a session-level advisory lock, so exactly one applies them and the others wait, then find
 * nothing left to do.
 */
export async function openPostgresMetadata(url: string, options: PostgresOptions = {}): Promise<KyselyMetadataStore> {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types });
  // An idle client's error (server restart, network cut) must not crash the process; the pool
  // drops that client and the next query opens a new connection.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateLocked(url, db);
  } catch (err) {
    await db.destroy();
    throw new Error(`cannot open PostgreSQL database ${redactDatabaseUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  return new KyselyMetadataStore(db);
}

async function migrateLocked(url: string, db: Kysely<Database>): Promise<void> {
  // A dedicated connection holds the lock while the migrator works through the pool.
  const lock = new pg.Client({ connectionString: url });
  lock.on('error', () => {});
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await migrateToLatest(db, 'postgres');
    } finally {
      await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lock.end();
  }
}
