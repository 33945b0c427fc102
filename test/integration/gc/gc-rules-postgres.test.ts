/** The GC rules on PostgreSQL; needs BERTH_TEST_DATABASE_URL (scripts/services/postgres.sh start). */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openPostgresMetadata } from '../../../src/metadata/kysely/postgres.ts';
import { gcRulesSuite } from './gc-rules.suite.ts';

const url = process.env.BERTH_TEST_DATABASE_URL;

async function sql(base: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

if (!url) {
  describe('GC rules: postgres', () => {
    it('skipped: set BERTH_TEST_DATABASE_URL to run it', { skip: 'BERTH_TEST_DATABASE_URL is not set' }, () => {});
  });
} else {
  gcRulesSuite('postgres', async () => {
    const schema = `berth_gc_${randomBytes(6).toString('hex')}`;
    await sql(url, `create schema ${schema}`);
    const u = new URL(url);
    u.searchParams.set('options', `-c search_path=${schema}`);
    const store = await openPostgresMetadata(u.toString(), { poolSize: 4 });
    return { store, cleanup: () => sql(url, `drop schema if exists ${schema} cascade`) };
  });
}
