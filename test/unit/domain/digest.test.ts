import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createDigester, digestAlgorithm, digestHex, digestOf, isDigest, parseDigest, type Digest } from '../../../src/domain/digest.ts';
import { RegistryError } from '../../../src/domain/errors.ts';

const HEX64 = 'a'.repeat(64);
const HEX128 = '0123456789abcdef'.repeat(8);

describe('isDigest', () => {
  it('accepts sha256 and sha512 with lowercase hex of the right length', () => {
    assert.equal(isDigest(`sha256:${HEX64}`), true);
    assert.equal(isDigest(`sha512:${HEX128}`), true);
  });

  for (const [label, value] of [
    ['empty', ''],
    ['no algorithm', HEX64],
    ['empty encoding', 'sha256:'],
    ['uppercase hex', `sha256:${'A'.repeat(64)}`],
    ['short hex', `sha256:${'a'.repeat(63)}`],
    ['long hex', `sha256:${'a'.repeat(65)}`],
    ['sha512 length under sha256', `sha256:${HEX128}`],
    ['sha256 length under sha512', `sha512:${HEX64}`],
    ['unsupported algorithm', `md5:${'a'.repeat(32)}`],
    ['well-formed but unknown algorithm', `sha256+b64u:${HEX64}`],
    ['uppercase algorithm', `SHA256:${HEX64}`],
    ['non-hex', `sha256:${'g'.repeat(64)}`],
    ['whitespace', ` sha256:${HEX64}`],
    ['two colons', `sha256:${HEX64}:x`],
    ['longer than 200 characters', `sha512:${HEX128}${'a'.repeat(80)}`],
  ] as const) {
    it(`rejects ${label}`, () => assert.equal(isDigest(value), false));
  }
});

describe('parseDigest', () => {
  it('returns a valid digest unchanged', () => {
    assert.equal(parseDigest(`sha256:${HEX64}`), `sha256:${HEX64}`);
  });

  it('throws DIGEST_INVALID for a missing or empty digest, naming what is missing', () => {
    for (const value of [undefined, '']) {
      assert.throws(() => parseDigest(value, 'mount digest'), (err: unknown) => {
        assert.ok(err instanceof RegistryError);
        assert.equal(err.code, 'DIGEST_INVALID');
        assert.equal(err.status, 400);
        assert.match(err.message, /mount digest is missing/);
        return true;
      });
    }
  });

  it('throws DIGEST_INVALID with the (truncated) digest in the detail for a malformed one', () => {
    const long = `x:${'y'.repeat(500)}`;
    assert.throws(() => parseDigest(long), (err: unknown) => {
      assert.ok(err instanceof RegistryError);
      assert.equal(err.code, 'DIGEST_INVALID');
      assert.equal((err.detail as { digest: string }).digest.length, 200);
      return true;
    });
  });
});

describe('digest helpers', () => {
  const d = `sha512:${HEX128}` as Digest;

  it('splits algorithm and encoded part', () => {
    assert.equal(digestAlgorithm(d), 'sha512');
    assert.equal(digestHex(d), HEX128);
  });

  it('digestOf matches node:crypto for both algorithms and the empty input', () => {
    const bytes = Buffer.from('berth');
    assert.equal(digestOf(bytes), `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    assert.equal(digestOf(bytes, 'sha512'), `sha512:${createHash('sha512').update(bytes).digest('hex')}`);
    assert.equal(digestOf(new Uint8Array()), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.ok(isDigest(digestOf(bytes)));
    assert.ok(isDigest(digestOf(bytes, 'sha512')));
  });

  it('createDigester hashes incrementally like digestOf', () => {
    const hash = createDigester();
    hash.update('ber');
    hash.update('th');
    assert.equal(`sha256:${hash.digest('hex')}`, digestOf(Buffer.from('berth')));
  });
});
