import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { cachingStatements, schemaFacts } from '../../../src/metadata/kysely/sqlite.ts';
import { StatementScopes } from '../../../src/metadata/kysely/sqlite-statement-scope.ts';
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
    results = new SqliteResultCache(() => version.get(), new StatementScopes(() => schemaFacts(database)));
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

describe('SqliteResultCache with statement scopes: a write drops only what it may have changed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-result-scope-'));
  let database: SQLite.Database;
  let results: SqliteResultCache;
  let db: ReturnType<typeof cachingStatements>;

  /** The rows of `sql`, and whether they came from the cache (the same frozen row objects as last time). */
  const seen = new Map<string, unknown>();
  const read = (sql: string, ...params: unknown[]): { rows: unknown[]; cached: boolean } => {
    const rows = db.prepare(sql).all(params);
    const key = `${sql}|${JSON.stringify(params)}`;
    const cached = rows.length > 0 && seen.get(key) === rows[0];
    seen.set(key, rows[0]);
    return { rows, cached };
  };
  const write = (sql: string, ...params: unknown[]) => db.prepare(sql).run(params);

  beforeEach(async () => {
    rmSync(join(dir, 'scope.db'), { force: true });
    database = new SQLite(join(dir, 'scope.db'));
    database.exec('create table t (name text primary key); create table u (name text primary key)');
    database.exec("insert into t values ('t1'); insert into u values ('u1')");
    const version = database.prepare('PRAGMA data_version').pluck();
    results = new SqliteResultCache(() => version.get(), new StatementScopes(() => schemaFacts(database)));
    db = cachingStatements(database, results);
    seen.clear();
    await nextTurn();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the cached reads of other tables and drops those of the table written', () => {
    read('select name from "u"');
    read('select name from t');
    write('insert into "T" (name) values (?)', 't2');
    assert.equal(read('select name from "u"').cached, true, 'u was not written');
    assert.deepEqual(read('select name from t order by name').rows, [{ name: 't1' }, { name: 't2' }]);
  });

  it('drops a join and a subquery when any table they read is written', () => {
    const join_ = 'select t.name from t join u on u.name = t.name';
    const sub = 'select name from t where name in (select name from "u")';
    assert.deepEqual(read(join_).rows, []);
    assert.deepEqual(read(sub).rows, []);
    write('insert into u (name) values (?)', 't1');
    assert.deepEqual(read(join_).rows, [{ name: 't1' }]);
    assert.deepEqual(read(sub).rows, [{ name: 't1' }]);
  });

  it('does not count a table named only in a string literal', () => {
    read("select name from t where name <> 'u'");
    write('insert into u (name) values (?)', 'u2');
    assert.equal(read("select name from t where name <> 'u'").cached, true);
  });

  it('drops everything after a failed write (an error can end the transaction)', () => {
    read('select name from u');
    assert.throws(() => write('insert into t (name) values (?)', 't1'), /UNIQUE/);
    assert.equal(read('select name from u').cached, false);
  });

  it('never serves a read made inside a transaction that was rolled back', () => {
    write('begin');
    write('insert into t (name) values (?)', 'inside');
    assert.deepEqual(read('select name from t order by name').rows, [{ name: 'inside' }, { name: 't1' }]);
    write('rollback');
    assert.deepEqual(read('select name from t order by name').rows, [{ name: 't1' }]);
  });

  it('answers reads inside a transaction from SQLite, not from results kept before it', () => {
    assert.deepEqual(read('select name from u order by name').rows, [{ name: 'u1' }]);
    // Another process commits within this event-loop turn (data_version is checked once per turn).
    const other = new SQLite(join(dir, 'scope.db'));
    try {
      other.prepare('insert into u (name) values (?)').run('from-cli');
    } finally {
      other.close();
    }
    write('begin');
    assert.deepEqual(read('select name from u order by name').rows, [{ name: 'from-cli' }, { name: 'u1' }]);
    assert.equal(read('select name from u order by name').cached, false, 'nor kept inside it');
    write('commit');
  });

  it('with a trigger in the schema, any write drops everything', () => {
    write("create trigger t_copy after insert on t begin insert into u (name) values (new.name || '-copy'); end");
    assert.deepEqual(read('select name from u order by name').rows, [{ name: 'u1' }]);
    write('insert into t (name) values (?)', 't3');
    assert.deepEqual(read('select name from u order by name').rows, [{ name: 't3-copy' }, { name: 'u1' }]);
  });

  it('with a cascading foreign key, any write drops everything', () => {
    write('create table parent (id integer primary key)');
    write('create table child (id integer, parent integer references parent (id) on delete cascade)');
    database.pragma('foreign_keys = ON');
    write('insert into parent (id) values (?)', 1);
    write('insert into child (id, parent) values (?, ?)', 10, 1);
    assert.deepEqual(read('select id from child').rows, [{ id: 10 }]);
    write('delete from parent where id = ?', 1);
    assert.deepEqual(read('select id from child').rows, []);
  });

  it('learns tables created after it started', () => {
    write('create table v (name text)');
    assert.deepEqual(read('select name from v').rows, []);
    read('select name from u');
    write('insert into v (name) values (?)', 'v1');
    assert.deepEqual(read('select name from v').rows, [{ name: 'v1' }]);
    assert.equal(read('select name from u').cached, true);
  });
});

describe('StatementScopes', () => {
  const scopes = new StatementScopes(() => ({ tables: ['images', 'Tags', 'blobs'], safe: true }));
  const bit = (n: number) => 1 << n;

  it('names the known tables a statement mentions, quoted or bare, in any case', () => {
    assert.deepEqual(scopes.of('select * from "images" inner join tags on tags.x = "images".y', true), { kind: 'read', tables: bit(0) | bit(1) });
    assert.deepEqual(scopes.of('INSERT INTO `BLOBS` (digest) VALUES (?)', false), { kind: 'write', tables: bit(2) });
    assert.deepEqual(scopes.of('update [tags] set name = ? where exists (select 1 from blobs)', false), { kind: 'write', tables: bit(1) | bit(2) });
  });

  it('changes nothing for transaction control; everything for rollback, DDL, pragmas and the unknown', () => {
    for (const sql of ['begin', 'begin immediate', 'commit', 'savepoint a', 'release a']) assert.deepEqual(scopes.of(sql, true), { kind: 'none' });
    for (const sql of ['rollback', 'rollback to a', 'create table x (a)', 'drop table tags', 'pragma foreign_keys = off', 'vacuum', 'analyze']) {
      assert.deepEqual(scopes.of(sql, false), { kind: 'all' }, sql);
    }
  });

  it('a write naming no known table, or an SQLite table, may change anything; such reads are not cached', () => {
    assert.deepEqual(scopes.of('insert into elsewhere (a) values (1)', false), { kind: 'all' });
    assert.deepEqual(scopes.of('select * from sqlite_master', true), { kind: 'read', tables: 0 });
    assert.deepEqual(scopes.of('select 1', true), { kind: 'read', tables: 0 });
  });

  it('with an unsafe schema every write may change anything', () => {
    const unsafe = new StatementScopes(() => ({ tables: ['images'], safe: false }));
    assert.deepEqual(unsafe.of('insert into images (a) values (1)', false), { kind: 'all' });
    assert.deepEqual(unsafe.of('select * from images', true), { kind: 'read', tables: 1 });
  });
});
