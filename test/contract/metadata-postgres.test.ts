/**
 * The MetadataStore contract on PostgreSQL. Needs a server: `BERTH_TEST_DATABASE_URL`
 * (scripts/services/postgres.sh starts one; `npm run test:all` does it for you). Each test gets
 * a schema of its own, dropped afterwards.
 */
import { describe, it } from 'node:test';
import { openPostgresMetadata } from '../../src/metadata/kysely/postgres.ts';
import { freshSchema, withSchema } from '../support/postgres.ts';
import { metadataStoreContract } from './metadata-store.contract.ts';

const url = process.env.BERTH_TEST_DATABASE_URL;

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
