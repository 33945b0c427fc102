/**
 * The MetadataStore contract on PostgreSQL. Needs a server: `BERTH_TEST_DATABASE_URL`
 * (scripts/services/postgres.sh starts one; `npm run test:all` does it for you). Each test gets
 * a schema of its own, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openPostgresMetadata } from '../../src/metadata/kysely/postgres.ts';
import { metadataStoreContract } from './metadata-store.contract.ts';

const url = process.env.BERTH_TEST_DATABASE_URL;

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

if (!url) {
  describe('MetadataStore contract: postgres', () => {
    it('skipped: set BERTH_TEST_DATABASE_URL (scripts/services/postgres.sh start) to run it', { skip: 'BERTH_TEST_DATABASE_URL is not set' }, () => {});
  });
} else {
  metadataStoreContract('postgres', async () => {
    const { schema, drop } = await freshSchema(url);
    const store = await openPostgresMetadata(withSchema(url, schema), { poolSize: 4 });
    return { store, cleanup: drop };
  });
}
