import type { CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * Runs a compiled statement synchronously, or answers undefined when it cannot right now (then
 * the query goes through Kysely). Offered by a database whose driver is synchronous (the
 * embedded SQLite), for its root Kysely instance only: see offerDirectReads.
 */
export type DirectReader = (sql: string, parameters: readonly unknown[]) => unknown[] | undefined;

const directReaders = new WeakMap<object, DirectReader>();

/**
 * Lets PreparedQuery run reads on `db` through `reader` instead of Kysely's executor, whose
 * connection provider, driver mutex and result transformation cost a handful of promises and about
 * 4 KiB of garbage per query: more than a point lookup answered from SqliteResultCache. Only
 * `db` itself reads directly; a transaction or any other instance derived from it is a different
 * object and goes through Kysely. `reader` must decline (undefined) whatever Kysely would have
 * to serialise: a statement that is not a read-only query, a read while a transaction is open on
 * the connection. A Kysely instance with plugins must not be offered (their result transforms
 * would be skipped).
 */
export function offerDirectReads(db: object, reader: DirectReader): void {
  directReaders.set(db, reader);
}

/** Stands for the i-th argument while a query is compiled once. */
class Placeholder {
  constructor(readonly index: number) {}
}

/**
 * A fixed-shape query compiled to SQL once and then run with new parameter values: the hot
 * point lookups (every /v2 request resolves an image, a blob link or a tag) and the writes of
 * every push skip building and compiling the Kysely query tree each time. Works for any dialect, since the SQL is compiled per
 * Kysely instance; only values may vary between calls, never the shape.
 */
export class PreparedQuery<Db, A extends readonly unknown[], Row> {
  /**
   * Per dialect adapter: two databases of different dialects may live in one process. A
   * transaction is a new Kysely instance but shares its database's adapter (and compiler).
   */
  private readonly compiled = new WeakMap<object, CompiledQuery<Row>>();

  constructor(private readonly build: (db: Kysely<Db>, ...args: A) => { compile(): CompiledQuery<Row> }) {}

  /**
   * The query's result: synchronously when the database reads it directly, else Kysely's
   * promise. The methods below turn it into one promise each: awaiting one async method from
   * another (first -> rows -> execute) cost a promise and a microtask turn per level on every
   * lookup. A failure to compile or run is a rejection, never a throw.
   */
  private run(db: Kysely<Db>, args: A): QueryResult<Row> | Promise<QueryResult<Row>> {
    try {
      const key = db.getExecutor().adapter;
      let compiled = this.compiled.get(key);
      if (compiled === undefined) {
        const placeholders = args.map((_, i) => new Placeholder(i)) as unknown as A;
        compiled = this.build(db, ...placeholders).compile();
        this.compiled.set(key, compiled);
      }
      const parameters = compiled.parameters.map((p) => (p instanceof Placeholder ? args[p.index] : p));
      const rows = directReaders.get(db)?.(compiled.sql, parameters);
      if (rows !== undefined) return { rows: rows as Row[] };
      return db.executeQuery<Row>({ ...compiled, parameters });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** One promise of `pick` applied to the query's result. */
  private settle<T>(db: Kysely<Db>, args: A, pick: (result: QueryResult<Row>) => T): Promise<T> {
    const result = this.run(db, args);
    return result instanceof Promise ? result.then(pick) : Promise.resolve(pick(result));
  }

  execute(db: Kysely<Db>, ...args: A): Promise<QueryResult<Row>> {
    return Promise.resolve(this.run(db, args));
  }

  rows(db: Kysely<Db>, ...args: A): Promise<Row[]> {
    return this.settle(db, args, rowsOf);
  }

  /** Rows inserted, updated or deleted by a write. */
  affected(db: Kysely<Db>, ...args: A): Promise<number> {
    return this.settle(db, args, affectedOf);
  }

  first(db: Kysely<Db>, ...args: A): Promise<Row | undefined> {
    return this.settle(db, args, firstOf);
  }
}

const rowsOf = <Row>(result: QueryResult<Row>): Row[] => result.rows;
const firstOf = <Row>(result: QueryResult<Row>): Row | undefined => result.rows[0];
const affectedOf = (result: QueryResult<unknown>): number => Number(result.numAffectedRows ?? 0n);

/**
 * A PreparedQuery whose shape varies only with the length of one list (an `IN (...)` list, the
 * rows of a multi-row insert): compiled once per length. Lists come in chunks of at most
 * IN_CHUNK (chunked.ts), which bounds the number of shapes kept.
 */
export class PreparedListQuery<Db, A extends readonly unknown[], Row> {
  private readonly byLength = new Map<number, PreparedQuery<Db, unknown[], Row>>();

  constructor(private readonly build: (db: Kysely<Db>, list: readonly string[], ...args: A) => { compile(): CompiledQuery<Row> }) {}

  private query(length: number, fixed: number): PreparedQuery<Db, unknown[], Row> {
    let query = this.byLength.get(length);
    if (query === undefined) {
      query = new PreparedQuery<Db, unknown[], Row>((db, ...all) => this.build(db, all.slice(fixed) as string[], ...(all.slice(0, fixed) as unknown as A)));
      this.byLength.set(length, query);
    }
    return query;
  }

  execute(db: Kysely<Db>, list: readonly string[], ...args: A): Promise<QueryResult<Row>> {
    return this.query(list.length, args.length).execute(db, ...args, ...list);
  }

  async rows(db: Kysely<Db>, list: readonly string[], ...args: A): Promise<Row[]> {
    return (await this.execute(db, list, ...args)).rows;
  }

  async affected(db: Kysely<Db>, list: readonly string[], ...args: A): Promise<number> {
    return Number((await this.execute(db, list, ...args)).numAffectedRows ?? 0n);
  }
}
