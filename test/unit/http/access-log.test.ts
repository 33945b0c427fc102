import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino, { type LoggerOptions } from 'pino';
import { accessLog } from '../../../src/http/access-log.ts';

/** A logger made with `options` whose raw lines land in `lines`, and how often its info() was called. */
function capturing(options: LoggerOptions): { logger: pino.Logger; lines: string[]; infoCalls: () => number } {
  const lines: string[] = [];
  const logger = pino({ timestamp: () => ',"time":1700000000123', ...options }, { write: (line: string) => lines.push(line) });
  let calls = 0;
  const info = logger.info.bind(logger);
  logger.info = ((...args: Parameters<typeof info>) => {
    calls++;
    return info(...args);
  }) as typeof logger.info;
  return { logger, lines, infoCalls: () => calls };
}

/** What pino itself writes for the access line. */
function pinoLine(options: LoggerOptions, traceId: string, method: string, url: string, status: number, ms: number): string {
  const { logger, lines } = capturing(options);
  logger.info({ traceId, method, url, status, ms }, 'request');
  return lines[0]!;
}

const CASES: [string, string, string, number, number][] = [
  ['a1b2c3d4e5f6000000000001', 'GET', '/v2/library/app/manifests/latest', 200, 3],
  ['t', 'HEAD', '/v2/a/blobs/sha256:00', 404, 0],
  ['t', 'PUT', '/v2/"quoted"\\back\\slash/é/ü', 201, 12345],
  ['t', 'GET', '/v2/only"quotes"', 200, 1],
  ['t', 'GET', '/v2/only\\backslashes\\', 200, 1],
  ['t', 'GET', '/v2/ctl\u0001\u001f\ttab\nline', 400, 1],
  ['t', 'PROPFIND', '/', 405, NaN],
  ['t', 'GET', '/v2/emoji/\u{1F433}/manifests/x\u007f', 200, 2],
];

describe('accessLog', () => {
  it("writes pino's own line for the same call, byte for byte, without going through info()", () => {
    for (const options of [{}, { base: null }, { base: { pid: 7, hostname: 'h"x' } }, { timestamp: pino.stdTimeFunctions.isoTime }] as LoggerOptions[]) {
      for (const [traceId, method, url, status, ms] of CASES) {
        const { logger, lines, infoCalls } = capturing(options);
        accessLog(logger)(traceId, method, url, status, ms);
        assert.equal(infoCalls(), 0, 'the fast path was taken');
        const expected = pinoLine(options, traceId, method, url, status, ms);
        // An ISO time differs between the two calls; everything else must match.
        const strip = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"T"');
        assert.equal(strip(lines[0]!), strip(expected));
        assert.doesNotThrow(() => JSON.parse(lines[0]!));
      }
    }
  });

  it('escapes a lone surrogate, so the line stays valid JSON and keeps the path', () => {
    const { logger, lines } = capturing({});
    accessLog(logger)('t', 'GET', '/v2/a\ud800b', 200, 1);
    assert.equal(JSON.parse(lines[0]!).url, '/v2/a\ud800b');
    assert.match(lines[0]!, /\\ud800/);
  });

  it("carries a child logger's bindings", () => {
    const { logger, lines } = capturing({});
    const child = logger.child({ node: 'n1' });
    accessLog(child)('t', 'GET', '/v2/', 200, 1);
    assert.equal(JSON.parse(lines[0]!).node, 'n1');
    assert.equal(JSON.parse(lines[0]!).msg, 'request');
  });

  it('writes nothing when info is off, also after the level changes', () => {
    const { logger, lines } = capturing({ level: 'warn' });
    const log = accessLog(logger);
    log('t', 'GET', '/v2/', 200, 1);
    assert.deepEqual(lines, []);
    logger.level = 'info';
    log('t', 'GET', '/v2/', 200, 1);
    assert.equal(lines.length, 1);
    logger.level = 'error';
    log('t', 'GET', '/v2/', 200, 1);
    assert.equal(lines.length, 1);
  });

  it('leaves the line to pino when the logger is configured so the plain line would differ', () => {
    const configured: LoggerOptions[] = [
      { mixin: () => ({ extra: 1 }) },
      { formatters: { log: (o) => ({ ...o, formatted: true }) } },
      { redact: ['url'] },
      { serializers: { method: (m: string) => m.toLowerCase() } },
      { messageKey: 'message' },
      { nestedKey: 'payload' },
      { msgPrefix: '[http] ' },
      { hooks: { streamWrite: (s: string) => s.replace('request', 'REQUEST') } },
    ];
    for (const options of configured) {
      const { logger, lines, infoCalls } = capturing(options);
      accessLog(logger)('t', 'GET', '/v2/x', 200, 1);
      assert.equal(infoCalls(), 1, JSON.stringify(Object.keys(options)));
      assert.equal(lines[0], pinoLine(options, 't', 'GET', '/v2/x', 200, 1));
    }
  });
});
