import { sql } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** The few column types that differ between the two dialects. */
export function columnTypes(dialect: Dialect) {
  return {
    /** Auto-incrementing integer primary key. */
    id: dialect === 'postgres' ? 'bigserial' : 'integer',
    /** 64-bit integer: sizes, counts, epoch milliseconds. */
    big: dialect === 'postgres' ? 'bigint' : 'integer',
    bytes: dialect === 'postgres' ? 'bytea' : 'blob',
    /**
     * Text compared byte by byte, as SQLite does: names, tags and digests sort (and page with
     * `name > last`) the same on both databases whatever the PostgreSQL database's locale.
     */
    text: dialect === 'postgres' ? sql`text collate "C"` : 'text',
  } as const;
}
