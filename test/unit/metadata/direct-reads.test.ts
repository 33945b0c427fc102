import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { offerDirectReads, PreparedQuery } from '../../../src/metadata/kysely/prepared-query.ts';
import { cachingStatements, directReader, schemaFacts } from '../../../src/metadata/kysely/sqlite.ts';
import { SqliteResultCache } from '../../../src/metadata/kysely/sqlite-result-cache.ts';
import { StatementScopes } from '../../../src/metadata/kysely/sqlite-statement-scope.ts';

interface Schema {
  t: { name: string };
}

const byName = new PreparedQuery((db: Kysely<Schema>, name: string) => db.selectFrom('t').select('name').where('name', '=', name));
const all = new PreparedQuery((db: Kysely<Schema>) => db.selectFrom('t').select('name').orderBy('name'));
const insert = new PreparedQuery((db: Kysely<Schema>, name: string) => db.insertInto('t').values({ name }));
const insertReturning = new PreparedQuery((db: Kysely<Schema>, name: string) => db.insertInto('t').values({ name }).returning('name'));

describe('direct reads of the embedded database (offerDirectReads)', () => {
  let db: Kysely<Schema>;
  /** SQL run through Kysely's executor; a direct read does not pass there. */
  let executed: string[];

  for (const cached of [true, false]) {
    describe(cached ? 'with the result cache' : 'without the result cache', () => {
      beforeEach(() => {
        const database = new SQLite(':memory:');
        database.exec('create table t (name text primary key)');
        const version = database.prepare('PRAGMA data_version').pluck();
        const results = cached ? new SqliteResultCache(() => version.get(), new StatementScopes(() => schemaFacts(database))) : undefined;
        const statements = cachingStatements(database, results);
        executed = [];
        db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: statements }), log: (event) => void executed.push(event.query.sql) });
        offerDirectReads(db, directReader(database, statements));
      });

      it('reads on the offered instance outside transactions without Kysely, writes through it', async () => {
        assert.equal(await insert.affected(db, 'a'), 1);
        assert.equal(executed.length, 1);
        assert.deepEqual(await byName.first(db, 'a'), { name: 'a' });
        assert.deepEqual(await all.rows(db), [{ name: 'a' }]);
        assert.equal(await byName.first(db, 'b'), undefined);
        assert.equal(executed.length, 1, 'the reads went direct');
        await sql`insert into t (name) values ('b')`.execute(db);
        assert.deepEqual(await all.rows(db), [{ name: 'a' }, { name: 'b' }], 'a write through Kysely is seen at once');
        // A statement returning rows that writes is not a read: Kysely runs it.
        assert.deepEqual(await insertReturning.first(db, 'c'), { name: 'c' });
        assert.equal(executed.length, 3);
        assert.deepEqual(await all.rows(db), [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      });

      it('a transaction reads through Kysely and sees its own writes', async () => {
        await db.transaction().execute(async (trx) => {
          await insert.affected(trx, 'a');
          assert.deepEqual(await byName.first(trx, 'a'), { name: 'a' });
        });
        assert.equal(executed.filter((s) => s.startsWith('select')).length, 1);
      });

      it('a read while a transaction is open waits for it and never sees what it rolls back', async () => {
        await insert.affected(db, 'kept');
        let during: Promise<unknown> | undefined;
        await assert.rejects(
          db.transaction().execute(async (trx) => {
            await insert.affected(trx, 'dropped');
            during = all.rows(db); // the root instance, while the transaction holds the connection
            await new Promise((resolve) => setImmediate(resolve));
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.deepEqual(await during, [{ name: 'kept' }]);
        assert.ok(executed.some((s) => s.startsWith('select')), 'the read went through Kysely, behind the transaction');
      });

      it('a read while a transaction is open sees what it commits', async () => {
        let during: Promise<unknown> | undefined;
        await db.transaction().execute(async (trx) => {
          await insert.affected(trx, 'new');
          during = byName.first(db, 'new');
          await new Promise((resolve) => setImmediate(resolve));
        });
        assert.deepEqual(await during, { name: 'new' });
      });

      it('a query that fails rejects its promise, directly or through Kysely', async () => {
        const missing = new PreparedQuery((db: Kysely<Schema>, name: string) => ({ compile: () => sql<{ name: string }>`select name from missing where name = ${name}`.compile(db) }));
        for (const run of [() => missing.first(db, 'a'), () => missing.rows(db, 'a'), () => missing.execute(db, 'a')]) {
          let pending: Promise<unknown> | undefined;
          assert.doesNotThrow(() => (pending = run()));
          await assert.rejects(pending!, /no such table: missing/);
        }
        await assert.rejects(db.transaction().execute((trx) => missing.first(trx, 'a')), /no such table: missing/);
      });

      it('an instance derived from the offered one reads through Kysely', async () => {
        await insert.affected(db, 'a');
        const derived = db.withoutPlugins();
        assert.deepEqual(await byName.first(derived, 'a'), { name: 'a' });
        assert.equal(executed.filter((s) => s.startsWith('select')).length, 1);
      });
    });
  }
});
