import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/domain/errors.ts';
import { parseRange } from '../../../src/registry/blobs.ts';

/** Asserts a 416 RANGE_INVALID that tells the client the size. */
function unsatisfiable(size: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.code, 'RANGE_INVALID');
    assert.equal(err.status, 416);
    assert.equal(err.headers['content-range'], `bytes */${size}`);
    return true;
  };
}

describe('parseRange', () => {
  it('is undefined without a header', () => {
    assert.equal(parseRange(undefined, 10), undefined);
  });

  it('parses a closed range, inclusive', () => {
    assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRange('bytes=2-5', 10), { start: 2, end: 5 });
    assert.deepEqual(parseRange('bytes=0-9', 10), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=9-9', 10), { start: 9, end: 9 });
  });

  it('clamps an end past the blob to its last byte', () => {
    assert.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRange('bytes=0-99999999999999999999', 10), { start: 0, end: 9 });
  });

  it('parses an open-ended range', () => {
    assert.deepEqual(parseRange('bytes=0-', 10), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=7-', 10), { start: 7, end: 9 });
  });

  it('parses a suffix range, capped at the whole blob', () => {
    assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(parseRange('bytes=-10', 10), { start: 0, end: 9 });
    assert.deepEqual(parseRange('bytes=-500', 10), { start: 0, end: 9 });
  });

  it('tolerates surrounding whitespace', () => {
    assert.deepEqual(parseRange('  bytes=1-2 ', 10), { start: 1, end: 2 });
  });

  it('serves the whole blob for a multi-range request', () => {
    assert.equal(parseRange('bytes=0-1,4-5', 10), undefined);
    assert.equal(parseRange('bytes=0-1, 4-5', 10), undefined);
    assert.equal(parseRange('bytes=-1,0-', 10), undefined);
  });

  it('refuses a start at or past the end with 416 and bytes */size', () => {
    assert.throws(() => parseRange('bytes=10-', 10), unsatisfiable(10));
    assert.throws(() => parseRange('bytes=10-20', 10), unsatisfiable(10));
    assert.throws(() => parseRange('bytes=99999999999999999999-', 10), unsatisfiable(10));
  });

  it('refuses an end before the start', () => {
    assert.throws(() => parseRange('bytes=5-2', 10), unsatisfiable(10));
  });

  it('refuses a zero suffix and any range of an empty blob', () => {
    assert.throws(() => parseRange('bytes=-0', 10), unsatisfiable(10));
    assert.throws(() => parseRange('bytes=-5', 0), unsatisfiable(0));
    assert.throws(() => parseRange('bytes=0-', 0), unsatisfiable(0));
    assert.throws(() => parseRange('bytes=0-0', 0), unsatisfiable(0));
  });

  it('refuses malformed byte ranges', () => {
    for (const header of ['bytes=-', 'bytes=', 'bytes=a-b', 'bytes=1-2-3', 'bytes=1', 'bytes=+1-2', 'bytes=1.5-2', 'bytes 0-1']) {
      assert.throws(() => parseRange(header, 10), unsatisfiable(10), header);
    }
  });

  it('ignores a range unit it does not know (RFC 9110 section 14.2: MUST ignore)', () => {
    assert.equal(parseRange('items=0-1', 10), undefined);
  });
});
