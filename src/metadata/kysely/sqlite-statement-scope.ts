/**
 * What a statement of the embedded database can read or change, as a bit mask of tables, so
 * that a write drops only the cached results that read what it changes (SqliteResultCache).
 *
 * A statement's tables are the known table names among its identifiers (quoted or bare, any
 * case), in every clause and subquery: it can over-count (a column named like a table), never
 * under-count, as long as nothing changes a table the statement does not name. Views, triggers,
 * foreign-key actions (cascades) and virtual tables would; when the schema has any (or more
 * tables than a mask holds), every write is treated as changing everything.
 */
export type StatementScope =
  /** A read-only query of these tables; mask 0: none known (not worth caching). */
  | { kind: 'read'; tables: number }
  /** Changes at most these tables. */
  | { kind: 'write'; tables: number }
  /** Changes no data: begin, commit, savepoint, release. */
  | { kind: 'none' }
  /** May change anything, the schema too: rollback, DDL, pragmas, anything unrecognised. */
  | { kind: 'all' };

/** The schema facts scopes depend on. */
export interface SchemaFacts {
  tables: string[];
  /** No views, triggers, foreign-key actions or virtual tables. */
  safe: boolean;
}

const NO_CHANGE = new Set(['begin', 'commit', 'end', 'savepoint', 'release']);
const DATA = new Set(['select', 'insert', 'update', 'delete', 'replace', 'with', 'values']);
/** Identifiers ("x", `x`, [x], bare words) and string literals (skipped). */
const TOKEN = /"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|\[([^\]]*)\]|'(?:[^']|'')*'|([A-Za-z_][A-Za-z0-9_$]*)/g;
const MAX_TABLES = 31;
const ALL: StatementScope = { kind: 'all' };
const NONE: StatementScope = { kind: 'none' };

export class StatementScopes {
  private facts: SchemaFacts | undefined;
  private bits = new Map<string, number>();
  /** Bumped by forget(): scopes handed out before may be stale (holders keep one with its generation). */
  generation = 0;

  constructor(private readonly readSchema: () => SchemaFacts) {}

  /** The scope of `sql`; `readonly`: the prepared statement is a query that changes nothing. */
  of(sql: string, readonly: boolean): StatementScope {
    const first = /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toLowerCase() ?? '';
    if (NO_CHANGE.has(first)) return NONE;
    if (!DATA.has(first)) return ALL;
    const facts = this.schema();
    let tables = 0;
    for (const m of sql.matchAll(TOKEN)) {
      const name = (m[1]?.replace(/""/g, '"') ?? m[2]?.replace(/``/g, '`') ?? m[3] ?? m[4])?.toLowerCase();
      if (name === undefined) continue; // a string literal
      if (name.startsWith('sqlite_')) return readonly ? { kind: 'read', tables: 0 } : ALL;
      tables |= this.bits.get(name) ?? 0;
    }
    if (readonly) return { kind: 'read', tables };
    return facts.safe && tables !== 0 ? { kind: 'write', tables } : ALL;
  }

  /** After the schema may have changed (DDL here, a commit of another connection): read it again. */
  forget(): void {
    this.facts = undefined;
    this.generation++;
  }

  private schema(): SchemaFacts {
    if (this.facts) return this.facts;
    const facts = this.readSchema();
    const names = facts.tables.map((t) => t.toLowerCase());
    this.bits = new Map(names.slice(0, MAX_TABLES).map((name, i) => [name, 1 << i]));
    this.facts = { tables: names, safe: facts.safe && names.length <= MAX_TABLES };
    return this.facts;
  }
}
