import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../../src/app.ts';
import { loadConfig } from '../../../src/config/config.ts';
import { LazyRequestLogger } from '../../../src/http/lazy-request-logger.ts';

/** A pino logger at `level` whose lines land, parsed, in `lines`. */
function capturing(level: string): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** Counts the children made of `logger` from now on. */
function countChildren(logger: pino.Logger): { count: number } {
  const counter = { count: 0 };
  const child = logger.child.bind(logger);
  logger.child = ((bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => {
    counter.count++;
    return child(bindings, options);
  }) as unknown as typeof logger.child;
  return counter;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LazyRequestLogger', () => {
  it('makes no child until something logs, then logs with the bindings through one child', async () => {
    const { logger, lines } = capturing('info');
    const children = countChildren(logger);
    const lazy = LazyRequestLogger.factory(logger as FastifyBaseLogger, { traceId: 'abc' }, {});
    assert.equal(lazy.level, 'info');
    assert.equal(children.count, 0);

    lazy.error({ err: new Error('boom') }, 'request failed');
    lazy.info('second');
    lazy.debug('below the level');
    await flush();
    assert.equal(children.count, 1);
    assert.deepEqual(
      lines.map((l) => [l.traceId, l.msg, (l.err as { message?: string } | undefined)?.message]),
      [
        ['abc', 'request failed', 'boom'],
        ['abc', 'second', undefined],
      ],
    );
  });

  it('keeps the level a route asked for, and children of it carry both bindings', async () => {
    const { logger, lines } = capturing('info');
    const lazy = LazyRequestLogger.factory(logger as FastifyBaseLogger, { traceId: 't1' }, { level: 'debug' });
    assert.equal(lazy.level, 'debug');
    lazy.child({ part: 'x' }).debug('from a child');
    await flush();
    assert.deepEqual(lines.map((l) => [l.traceId, l.part, l.msg]), [['t1', 'x', 'from a child']]);
    lazy.level = 'warn';
    lazy.info('dropped');
    await flush();
    assert.equal(lines.length, 1);
  });

  it("a server's access line carries the request's trace id, and a request that logs nothing else makes no child", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-test-'));
    const { logger, lines } = capturing('info');
    const config = loadConfig({ env: { BERTH_DATA_DIR: dataDir, BERTH_ADMIN_PASSWORD: 'pw-for-this-test', BERTH_LISTEN: '127.0.0.1:0', BERTH_LOG_LEVEL: 'info' } });
    const app = await buildApp(config, logger);
    try {
      const base = await app.http.listen({ host: '127.0.0.1', port: 0 });
      const children = countChildren(logger);
      const ok = await fetch(`${base}/v2/`, { headers: { authorization: `Basic ${Buffer.from('admin:pw-for-this-test').toString('base64')}` } });
      const denied = await fetch(`${base}/v2/`);
      await flush();
      assert.equal(ok.status, 200);
      assert.equal(denied.status, 401);
      const access = lines.filter((l) => l.msg === 'request');
      assert.deepEqual(
        access.map((l) => [l.traceId, l.method, l.url, l.status]),
        [
          [ok.headers.get('x-trace-id'), 'GET', '/v2/', 200],
          [denied.headers.get('x-trace-id'), 'GET', '/v2/', 401],
        ],
      );
      assert.ok(ok.headers.get('x-trace-id'));
      assert.equal(children.count, 0);
    } finally {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
