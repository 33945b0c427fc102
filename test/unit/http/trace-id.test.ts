import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newTraceId } from '../../../src/http/server.ts';

const counterOf = (id: string): bigint => BigInt(`0x${id.slice(12)}`);

describe('newTraceId', () => {
  it('is a per-process prefix and a 48-bit counter, 24 hex digits, one more each time', () => {
    const ids = Array.from({ length: 1000 }, () => newTraceId());
    for (const id of ids) assert.match(id, /^[0-9a-f]{24}$/);
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 1; i < ids.length; i++) {
      if (ids[i]!.slice(0, 12) !== ids[i - 1]!.slice(0, 12)) continue; // the counter wrapped: a new prefix
      assert.equal(counterOf(ids[i]!), counterOf(ids[i - 1]!) + 1n);
    }
  });

  it('carries from the low half of the counter into the high one', () => {
    let previous = newTraceId();
    // The low 24 bits wrap within 2^24 ids.
    for (let i = 0; i <= 2 ** 24; i++) {
      const id = newTraceId();
      if (id.endsWith('000000')) {
        if (id.slice(0, 12) === previous.slice(0, 12)) assert.equal(counterOf(id), counterOf(previous) + 1n, `${previous} -> ${id}`);
        return;
      }
      previous = id;
    }
    assert.fail('the low half never wrapped');
  });
});
