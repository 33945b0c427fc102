import type { CompiledQuery, Kysely } from 'kysely';

/** Stands for the i-th argument while a query is compiled once. */
class Placeholder {
  constructor(readonly index: number) {}
}

/**
 * A fixed-shape query compiled to SQL once and then run with new parameter values: the hot
 * point lookups (every /v2 request resolves an image, a blob link or a tag) skip building and
 * compiling the Kysely query tree each time. Works for any dialect, since the SQL is compiled per
 * Kysely instance; only values may vary between calls, never the shape.
 */
export class PreparedQuery<Db, A extends readonly unknown[], Row> {
  /** Per Kysely instance: two databases of different dialects may live in one process. */
  private readonly compiled = new WeakMap<Kysely<Db>, CompiledQuery<Row>>();

  constructor(private readonly build: (db: Kysely<Db>, ...args: A) => { compile(): CompiledQuery<Row> }) {}

  async rows(db: Kysely<Db>, ...args: A): Promise<Row[]> {
    let compiled = this.compiled.get(db);
    if (compiled === undefined) {
      const placeholders = args.map((_, i) => new Placeholder(i)) as unknown as A;
      compiled = this.build(db, ...placeholders).compile();
      this.compiled.set(db, compiled);
    }
    const parameters = compiled.parameters.map((p) => (p instanceof Placeholder ? args[p.index] : p));
    return (await db.executeQuery<Row>({ ...compiled, parameters })).rows;
  }

  async first(db: Kysely<Db>, ...args: A): Promise<Row | undefined> {
    return (await this.rows(db, ...args))[0];
  }
}
