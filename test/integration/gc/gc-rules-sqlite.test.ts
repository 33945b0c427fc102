import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteMetadata } from '../../../src/metadata/kysely/sqlite.ts';
import { gcRulesSuite } from './gc-rules.suite.ts';

gcRulesSuite('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-gc-sqlite-'));
  const store = await openSqliteMetadata(join(dir, 'berth.db'));
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
