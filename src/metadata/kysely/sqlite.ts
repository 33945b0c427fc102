import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { KyselyMetadataStore } from './kysely-metadata-store.ts';
import { migrateToLatest } from './migrations/index.ts';
import { type DirectReader, offerDirectReads } from './prepared-query.ts';
import type { Database } from './schema.ts';
import { resultKey, SqliteResultCache } from './sqlite-result-cache.ts';
import { type SchemaFacts, type StatementScope, StatementScopes } from './sqlite-statement-scope.ts';

/** SQLite's own page cache, in KiB (SQLite's default; better-sqlite3's build sets 16,000). */
export const SQLITE_PAGE_CACHE_KIB = 2000;

/** Distinct SQL texts kept prepared; IN lists of varying length make the set open-ended. */
const STATEMENT_CACHE_MAX = 1000;
/** Statements prepared with a result cache so far, in this process: each one's number names it in result keys. */
let statementsPrepared = 0;

/**
 * Kysely's SQLite driver prepares every query anew, which costs more than running a point
 * lookup. This keeps prepared statements by SQL text. Safe because better-sqlite3 runs
 * `all`/`run` synchronously to completion; a statement still being iterated (`busy`, from
 * Kysely's streamQuery) is never handed out again, a fresh one is prepared instead.
 *
 * With `results`, read-only queries are answered from it (see SqliteResultCache for why that
 * stays correct), and every other statement drops from it, once it has run, the results it may
 * have changed.
 */
export function cachingStatements(database: SQLite.Database, results?: SqliteResultCache): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(sql: string): SqliteStatement {
      let stmt = cache.get(sql);
      if (stmt === undefined || (stmt as unknown as { busy: boolean }).busy) {
        stmt = results ? withResultCache(database, database.prepare(sql), sql, results) : (database.prepare(sql) as unknown as SqliteStatement);
        if (cache.size >= STATEMENT_CACHE_MAX) cache.clear();
        if (!cache.has(sql)) cache.set(sql, stmt);
      }
      return stmt;
    },
    close(): void {
      cache.clear();
      results?.clear();
      database.close();
    },
  };
}

/**
 * `stmt` as Kysely uses it, answering from `results` when it is a read-only query outside a
 * transaction. Inside one, reads go to SQLite: its snapshot, not results kept from before (which
 * another process's commit may have outdated in this event-loop turn), is what the transaction's
 * writes are checked against (GC's marks, quota usage).
 */
function withResultCache(database: SQLite.Database, stmt: SQLite.Statement, sql: string, results: SqliteResultCache): SqliteStatement {
  const query = stmt.reader && stmt.readonly; // SQLite calls begin, commit and the like read-only too
  // Results are keyed by this statement's number, not its SQL text: a key is built and hashed on
  // every lookup, and the text of a join is hundreds of characters. A statement prepared again
  // for the same text (see cachingStatements) gets a number of its own; its results are kept apart.
  const statement = `\0q${++statementsPrepared}`;
  let scope = results.scopeOf(sql, query);
  let generation = results.generation;
  const currentScope = (): StatementScope => {
    if (generation !== results.generation) {
      scope = results.scopeOf(sql, query);
      generation = results.generation;
    }
    return scope;
  };
  /** Runs a statement that may change data; drops the results it may have changed (all, if it failed). */
  const changing = <T>(scope: StatementScope, run: () => T): T => {
    try {
      return run();
    } catch (err) {
      results.clear(); // an error can end SQLite's transaction, undoing writes that cached reads saw
      throw err;
    } finally {
      results.changed(scope);
    }
  };
  return {
    reader: stmt.reader,
    readonly: stmt.readonly,
    get busy(): boolean {
      return stmt.busy;
    },
    all(parameters: ReadonlyArray<unknown>): unknown[] {
      const scope = currentScope();
      if (scope.kind !== 'read') return changing(scope, () => stmt.all(parameters));
      const key = scope.tables === 0 || database.inTransaction ? undefined : resultKey(statement, parameters);
      if (key === undefined) return stmt.all(parameters);
      // Callers get their own array (Kysely's migrator sorts one in place); the rows are shared, frozen.
      const kept = results.get(scope.tables, key) ?? results.set(scope.tables, key, stmt.all(parameters));
      return kept.slice();
    },
    run(parameters: ReadonlyArray<unknown>) {
      return changing(currentScope(), () => stmt.run(parameters));
    },
    iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
      results.changed(currentScope());
      return stmt.iterate(parameters);
    },
  } as SqliteStatement;
}

/**
 * Read-only queries run straight on the connection's cached statements while no transaction is
 * open on it (see offerDirectReads). better-sqlite3 runs a statement to completion
 * synchronously, so a direct read falls wholly before a transaction's BEGIN or after its end.
 * While one is open (`inTransaction`), the read goes through Kysely, waits behind its driver
 * mutex as before and sees what the transaction committed.
 */
export function directReader(database: SQLite.Database, statements: SqliteDatabase): DirectReader {
  return (sql, parameters) => {
    if (database.inTransaction) return undefined;
    const stmt = statements.prepare(sql) as SqliteStatement & { readonly?: boolean };
    return stmt.reader && stmt.readonly ? (stmt.all(parameters) as unknown[]) : undefined;
  };
}

/**
 * Opens (creating when missing) the embedded SQLite database, in WAL mode with
 * `synchronous=NORMAL`: a commit survives a process crash; only a power loss can drop the last
 * transactions, never corrupt the file.
 */
export async function openSqliteMetadata(file: string): Promise<KyselyMetadataStore> {
  const database = configureSqlite(new SQLite(file));
  const dataVersion = database.prepare('PRAGMA data_version').pluck();
  const results = new SqliteResultCache(() => dataVersion.get(), new StatementScopes(() => schemaFacts(database)));
  const statements = cachingStatements(database, results);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
  offerDirectReads(db, directReader(database, statements));
  await migrateToLatest(db, 'sqlite');
  return new KyselyMetadataStore(db);
}

/** The connection settings of the embedded database (WAL, its checkpoints, the caches). */
export function configureSqlite(database: SQLite.Database): SQLite.Database {
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  // A checkpoint (copying WAL pages into the database file, with its fsyncs) runs inside the
  // commit that crosses this many WAL pages, on the event loop. Every 10,000 pages (40 MiB of WAL)
  // instead of SQLite's 1,000 coalesces the rewrites of hot pages (index roots, the tags and
  // blobs tables' last leaves): small-image pushes took 17-20% less server CPU at 4,000 pages and
  // about 8% less again at 10,000. After a checkpoint the WAL file is cut back to 64 MiB at most.
  database.pragma('wal_autocheckpoint = 10000');
  database.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  database.pragma('busy_timeout = 5000');
  database.pragma('foreign_keys = ON');
  // better-sqlite3 builds SQLite with a 16 MB page cache; as the database grows the cache fills
  // and keeps all of it (malloc'd, never given back). The database file's pages stay in the
  // kernel's page cache anyway, where a miss here costs one pread.
  database.pragma(`cache_size = -${SQLITE_PAGE_CACHE_KIB}`);
  // Sorts and temporary indexes (tag listings) stay in memory instead of temporary files.
  database.pragma('temp_store = MEMORY');
  return database;
}

/**
 * The tables of `database`, and whether a statement can change only the tables it names: no
 * views, triggers, virtual tables or foreign keys with actions (see StatementScopes).
 */
export function schemaFacts(database: SQLite.Database): SchemaFacts {
  const objects = database.prepare("select type, name, coalesce(sql, '') as sql from sqlite_master").all() as { type: string; name: string; sql: string }[];
  const tables = objects.filter((o) => o.type === 'table' && !o.name.startsWith('sqlite_')).map((o) => o.name);
  let safe = !objects.some((o) => o.type === 'view' || o.type === 'trigger' || (o.type === 'table' && /^\s*create\s+virtual\b/i.test(o.sql)));
  for (const table of tables) {
    if (!safe) break;
    const keys = database.prepare('select on_update, on_delete from pragma_foreign_key_list(?)').all(table) as { on_update: string; on_delete: string }[];
    safe = keys.every((k) => /^(NO ACTION|RESTRICT)$/i.test(k.on_update) && /^(NO ACTION|RESTRICT)$/i.test(k.on_delete));
  }
  return { tables, safe };
}
