import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { cachingStatements } from '../../../src/metadata/kysely/sqlite.ts';
import { RESULT_CACHE_MAX_ENTRY_BYTES, resultKey, SqliteResultCache } from '../../../src/metadata/kysely/sqlite-result-cache.ts';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SqliteResultCache over cachingStatements', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-result-cache-'));
  const file = join(dir, 'test.db');
  let database: SQLite.Database;
  let results: SqliteResultCache;
  let db: ReturnType<typeof cachingStatements>;

  const names = (): string[] => (db.prepare('select name from t order by name').all([]) as { name: string }[]).map((r) => r.name);

  beforeEach(async () => {
    rmSync(file, { force: true });
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    database.exec('create table t (name text primary key, data blob)');
    const version = database.prepare('PRAGMA data_version').pluck();
    results = new SqliteResultCache(() => version.get());
    db = cachingStatements(database, results);
    await nextTurn();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers a repeated read-only query from the cache, frozen', () => {
    db.prepare('insert into t (name) values (?)').run(['a']);
    const first = db.prepare('select name from t where name = ?').all(['a']);
    const second = db.prepare('select name from t where name = ?').all(['a']);
    assert.equal(second[0], first[0]);
    assert.ok(Object.isFrozen(first[0]));
    assert.throws(() => {
      (first[0] as { name: string }).name = 'changed';
    }, TypeError);
    // Each caller gets its own array: sorting or emptying one (Kysely's migrator sorts) leaves the kept result.
    second.length = 0;
    assert.deepEqual(db.prepare('select name from t where name = ?').all(['a']), [{ name: 'a' }]);
    assert.notEqual(db.prepare('select name from t where name = ?').all(['b'])[0], first[0]);
  });

  it('sees a write of its own connection at once', () => {
    assert.deepEqual(names(), []);
    db.prepare('insert into t (name) values (?)').run(['a']);
    assert.deepEqual(names(), ['a']);
    db.prepare('delete from t where name = ?').run(['a']);
    assert.deepEqual(names(), []);
  });

  it('empties on INSERT ... RETURNING, which Kysely runs with all()', () => {
    assert.deepEqual(names(), []);
    assert.deepEqual(db.prepare('insert into t (name) values (?) returning name').all(['r']), [{ name: 'r' }]);
    assert.deepEqual(names(), ['r']);
  });

  it('never serves a read made inside a transaction that was rolled back', () => {
    db.prepare('begin').run([]);
    db.prepare('insert into t (name) values (?)').run(['inside']);
    assert.deepEqual(names(), ['inside']);
    db.prepare('rollback').run([]);
    assert.deepEqual(names(), []);
  });

  it("sees another connection's commit from the next event-loop turn", async () => {
    assert.deepEqual(names(), []);
    const other = new SQLite(file);
    try {
      other.prepare('insert into t (name) values (?)').run(['from-cli']);
    } finally {
      other.close();
    }
    await nextTurn();
    assert.deepEqual(names(), ['from-cli']);
  });

  it('does not keep results of queries with Buffer parameters, nor oversized results', () => {
    db.prepare('insert into t (name, data) values (?, ?)').run(['big', Buffer.alloc(RESULT_CACHE_MAX_ENTRY_BYTES + 1)]);
    const byData = (): unknown[] => db.prepare('select name from t where data = ?').all([Buffer.alloc(RESULT_CACHE_MAX_ENTRY_BYTES + 1)]);
    assert.notEqual(byData()[0], byData()[0]);
    const big = (): unknown[] => db.prepare('select data from t where name = ?').all(['big']);
    assert.notEqual(big()[0], big()[0]);
    assert.equal(results.size, 0);
  });

  it('keys parameter lists unambiguously', () => {
    assert.notEqual(resultKey('q', ['ab', 'c']), resultKey('q', ['a', 'bc']));
    assert.notEqual(resultKey('q', [1]), resultKey('q', ['1']));
    assert.notEqual(resultKey('q', [null]), resultKey('q', ['']));
    assert.equal(resultKey('q', [Buffer.from('x')]), undefined);
  });
});
