import type { StatementScope, StatementScopes } from './sqlite-statement-scope.ts';

/** Results kept at most; past it the cache starts over (the hot set refills in a few requests). */
export const RESULT_CACHE_MAX_ENTRIES = 10_000;
/** Estimated bytes of all kept results at most; past it the cache starts over. */
export const RESULT_CACHE_MAX_BYTES = 8 * 1024 * 1024;
/** A result estimated larger than this is never kept (a big manifest, a page of 1,000 tag rows). */
export const RESULT_CACHE_MAX_ENTRY_BYTES = 128 * 1024;

interface Group {
  entries: Map<string, readonly unknown[]>;
  bytes: number;
}

/**
 * Results of the embedded database's read-only statements, by SQL text and parameter values,
 * for as long as nothing can have changed them. Every /v2 read resolves an image, a blob link, a
 * manifest or a tag page: SQLite answered each in 10-30 us of the event loop's time, the cache
 * in well under one.
 *
 * Correctness rests on two rules, both cheap:
 * - Once a statement of this connection that is not a read-only query has run, every result it
 *   may have changed is dropped: those reading a table it writes (StatementScopes names the
 *   tables; for `rollback`, DDL and anything unrecognised, all results). A read
 *   inside a transaction that is later rolled back is therefore never served after the rollback.
 * - Other connections (the `berth` CLI writing the same file, a second process) are seen through
 *   `PRAGMA data_version`, which changes for this connection whenever another one commits. It is
 *   read once per event-loop turn that uses the cache: a turn sees other processes' commits made
 *   before it started, which is as fresh as running the query a few microseconds earlier.
 *
 * Kept results are frozen (the array and each row), so a caller that tried to modify a row
 * would throw instead of changing what later callers get; callers get copies of the array.
 */
export class SqliteResultCache {
  /** Kept results by the tables they read (a bit mask, see StatementScopes), then by key. */
  private groups = new Map<number, Group>();
  private count = 0;
  private bytes = 0;
  private dataVersion: unknown;
  private checkedThisTurn = false;
  private readonly endTurn = (): void => {
    this.checkedThisTurn = false;
  };

  constructor(
    private readonly readDataVersion: () => unknown,
    private readonly scopes: StatementScopes,
  ) {}

  /** Bumped whenever statement scopes may have changed (the schema); a scope kept from before must be asked for again. */
  get generation(): number {
    return this.scopes.generation;
  }

  /** What running `sql` reads or changes; `query`: a read-only statement returning rows. */
  scopeOf(sql: string, query: boolean): StatementScope {
    return this.scopes.of(sql, query);
  }

  /** The kept result for `key` of a query reading `tables`, or undefined (then run it and `set` the rows). */
  get(tables: number, key: string): readonly unknown[] | undefined {
    if (!this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(this.endTurn);
      const version = this.readDataVersion();
      if (version !== this.dataVersion) {
        this.dataVersion = version;
        this.clear(); // another connection committed: anything, the schema too, may have changed
        this.scopes.forget();
        return undefined;
      }
    }
    return this.groups.get(tables)?.entries.get(key);
  }

  /** Keeps `rows` (frozen here) as the result for `key` of a query reading `tables`; returns them. */
  set(tables: number, key: string, rows: unknown[]): readonly unknown[] {
    const size = estimateBytes(key, rows);
    if (size > RESULT_CACHE_MAX_ENTRY_BYTES) return rows;
    if (this.count >= RESULT_CACHE_MAX_ENTRIES || this.bytes + size > RESULT_CACHE_MAX_BYTES) this.clear();
    for (const row of rows) Object.freeze(row);
    Object.freeze(rows);
    let group = this.groups.get(tables);
    if (!group) {
      group = { entries: new Map(), bytes: 0 };
      this.groups.set(tables, group);
    }
    const before = group.entries.size;
    group.entries.set(key, rows);
    this.count += group.entries.size - before;
    group.bytes += size;
    this.bytes += size;
    return rows;
  }

  /** After a statement with `scope` ran: drops every result it may have changed. */
  changed(scope: StatementScope): void {
    if (scope.kind === 'none' || scope.kind === 'read') return;
    if (scope.kind === 'all') {
      this.clear();
      this.scopes.forget(); // DDL, or a rollback of it
      return;
    }
    for (const [tables, group] of this.groups) {
      if ((tables & scope.tables) === 0) continue;
      this.groups.delete(tables);
      this.count -= group.entries.size;
      this.bytes -= group.bytes;
    }
  }

  /** Drops every kept result. */
  clear(): void {
    if (this.count === 0) return;
    this.groups = new Map();
    this.count = 0;
    this.bytes = 0;
  }

  get size(): number {
    return this.count;
  }
}

/**
 * The cache key of `statement` (anything naming one statement: its SQL text, or a number unique
 * to it) run with `parameters`, or undefined when a parameter is of a kind not worth keying on (a
 * Buffer: results are only kept for lookups by names, digests, numbers). Strings carry their
 * length, so no two parameter lists share a key.
 */
export function resultKey(statement: string, parameters: ReadonlyArray<unknown>): string | undefined {
  let key = statement;
  for (const p of parameters) {
    switch (typeof p) {
      case 'string':
        key += `\0s${p.length}:${p}`;
        break;
      case 'number':
      case 'bigint':
        key += `\0n${p}`;
        break;
      case 'boolean':
        key += p ? '\0t' : '\0f';
        break;
      default:
        if (p !== null && p !== undefined) return undefined;
        key += '\0z';
    }
  }
  return key;
}

function estimateBytes(key: string, rows: unknown[]): number {
  let bytes = 64 + key.length;
  for (const row of rows) {
    bytes += 32;
    if (row === null || typeof row !== 'object') continue;
    for (const value of Object.values(row)) {
      if (typeof value === 'string') bytes += 16 + value.length;
      else if (value instanceof Uint8Array) bytes += 64 + value.byteLength;
      else bytes += 16;
    }
  }
  return bytes;
}
