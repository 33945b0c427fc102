import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { configureSqlite, SQLITE_PAGE_CACHE_KIB } from '../../../src/metadata/kysely/sqlite.ts';

const dir = await mkdtemp(join(tmpdir(), 'berth-sqlite-settings-'));
after(() => rm(dir, { recursive: true, force: true }));

test('the embedded database runs in WAL mode with the settings Berth relies on', () => {
  const database = configureSqlite(new SQLite(join(dir, 'settings.db')));
  try {
    const value = (pragma: string): unknown => database.pragma(pragma, { simple: true });
    assert.equal(value('journal_mode'), 'wal');
    assert.equal(value('synchronous'), 1); // NORMAL
    assert.equal(value('foreign_keys'), 1);
    assert.equal(value('busy_timeout'), 5000);
    assert.equal(value('wal_autocheckpoint'), 10000);
    assert.equal(value('temp_store'), 2); // MEMORY
  } finally {
    database.close();
  }
});

test("the page cache is SQLite's 2 MB, not the 16 MB better-sqlite3 is built with", () => {
  const bare = new SQLite(join(dir, 'bare.db'));
  const database = configureSqlite(new SQLite(join(dir, 'configured.db')));
  try {
    assert.equal(bare.pragma('cache_size', { simple: true }), -16000, "better-sqlite3's build default changed: revisit SQLITE_PAGE_CACHE_KIB");
    assert.equal(database.pragma('cache_size', { simple: true }), -SQLITE_PAGE_CACHE_KIB);
  } finally {
    bare.close();
    database.close();
  }
});
