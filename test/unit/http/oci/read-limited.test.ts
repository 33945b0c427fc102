import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { isRegistryError } from '../../../../src/domain/errors.ts';
import { ByteBudget } from '../../../../src/http/byte-budget.ts';
import { readLimited } from '../../../../src/http/oci/oci-plugin.ts';

function body(...chunks: string[]): PassThrough {
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return stream;
}

describe('readLimited', () => {
  it('reads a body within the limit and gives its bytes back to the budget', async () => {
    const budget = new ByteBudget(100);
    assert.equal((await readLimited(body('abc', 'def'), 10, budget, 60_000)).toString(), 'abcdef');
    assert.equal(budget.inUse, 0);
  });

  it('holds its bytes in the budget while the body is arriving', async () => {
    const budget = new ByteBudget(100);
    const stream = new PassThrough();
    const read = readLimited(stream, 50, budget, 60_000);
    stream.write('x'.repeat(30));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(budget.inUse, 30);
    assert.equal(budget.take(71), false, 'another body cannot have what this one holds');
    stream.end('y');
    assert.equal((await read).length, 31);
    assert.equal(budget.inUse, 0);
  });

  it('answers 413 past the limit and 429 when the budget has no room, holding nothing after', async () => {
    const budget = new ByteBudget(100);
    await assert.rejects(readLimited(body('x'.repeat(8), 'x'.repeat(8)), 10, budget, 60_000), (err) => isRegistryError(err) && err.status === 413);
    assert.equal(budget.inUse, 0);
    assert.equal(budget.take(95), true);
    await assert.rejects(readLimited(body('abc', 'defghi'), 50, budget, 60_000), (err) => isRegistryError(err) && err.code === 'TOOMANYREQUESTS' && err.status === 429 && err.headers['retry-after'] === '1');
    assert.equal(budget.inUse, 95, 'the refused body gave back what it had taken');
  });

  it('answers 408 when the body has not ended by the deadline, a trickle or not, holding nothing after', async () => {
    const budget = new ByteBudget(100);
    const stream = new PassThrough();
    const read = readLimited(stream, 50, budget, 100);
    const trickle = setInterval(() => stream.write('x'), 10);
    try {
      await assert.rejects(read, (err) => isRegistryError(err) && err.status === 408 && err.code === 'MANIFEST_INVALID');
    } finally {
      clearInterval(trickle);
    }
    assert.equal(budget.inUse, 0);
    assert.ok(stream.isPaused(), 'it stopped reading');
  });
});
