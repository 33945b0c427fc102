import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The URL of `base` with `search_path` set to `schema` for every connection. */
export function withSchema(base: string, schema: string): string {
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Creates an empty schema and returns its name with a function that drops it. */
export async function freshSchema(base: string): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `berth_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  return {
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await c.end();
      }
    },
  };
}
