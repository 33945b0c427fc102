import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStartError } from '../../../src/cli/program.ts';
import { ConfigError } from '../../../src/config/config.ts';

describe('formatStartError', () => {
  it('prints a configuration error as is, prefixed with berth:', () => {
    assert.equal(formatStartError(new ConfigError('listen address "x" is not host:port')), 'berth: listen address "x" is not host:port');
  });

  it('says "cannot start" for other errors', () => {
    assert.equal(formatStartError(new Error('listen EADDRINUSE: address already in use 127.0.0.1:5000')), 'berth: cannot start: listen EADDRINUSE: address already in use 127.0.0.1:5000');
  });

  it('folds a multi-line message into one line without dropping any of it', () => {
    const line = formatStartError(new Error('Could not locate the bindings file. Tried:\n → /a/build/x.node\n → /b/x.node\n'));
    assert.equal(line, 'berth: cannot start: Could not locate the bindings file. Tried: → /a/build/x.node → /b/x.node');
    assert.ok(!line.includes('\n'));
  });

  it('copes with values that are not Errors', () => {
    assert.equal(formatStartError('boom'), 'berth: cannot start: boom');
  });
});
