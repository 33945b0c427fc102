export type Dialect = 'sqlite' | 'postgres';

/** The few column types that differ between the two dialects. */
export function columnTypes(dialect: Dialect) {
  return {
    /** Auto-incrementing integer primary key. */
    id: dialect === 'postgres' ? 'bigserial' : 'integer',
    /** 64-bit integer: sizes, counts, epoch milliseconds. */
    big: dialect === 'postgres' ? 'bigint' : 'integer',
    bytes: dialect === 'postgres' ? 'bytea' : 'blob',
  } as const;
}
