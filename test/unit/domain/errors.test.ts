import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_TABLE, isRegistryError, RegistryError, unexpectedError } from '../../../src/domain/errors.ts';

describe('RegistryError', () => {
  it('takes status, message and extension code from the table', () => {
    const err = new RegistryError('MANIFEST_UNKNOWN');
    assert.equal(err.status, 404);
    assert.equal(err.message, 'manifest unknown to registry');
    assert.equal(err.extCode, 250108);
    assert.equal(err.name, 'RegistryError');
    assert.deepEqual(err.headers, {});
    assert.ok(err instanceof Error);
    assert.ok(isRegistryError(err));
    assert.equal(isRegistryError(new Error('x')), false);
  });

  it('keeps an explicit message, detail, status override, headers and cause', () => {
    const cause = new Error('root');
    const err = new RegistryError('MANIFEST_INVALID', 'too big', { size: 5 }, { status: 413, headers: { 'retry-after': '1' }, cause });
    assert.equal(err.message, 'too big');
    assert.deepEqual(err.detail, { size: 5 });
    assert.equal(err.status, 413);
    assert.deepEqual(err.headers, { 'retry-after': '1' });
    assert.equal(err.cause, cause);
  });

  it('maps the OCI codes to the statuses of the distribution spec', () => {
    const expected: Record<string, number> = {
      BLOB_UNKNOWN: 404,
      BLOB_UPLOAD_INVALID: 400,
      BLOB_UPLOAD_UNKNOWN: 404,
      DIGEST_INVALID: 400,
      MANIFEST_BLOB_UNKNOWN: 400,
      MANIFEST_INVALID: 400,
      MANIFEST_UNKNOWN: 404,
      NAME_INVALID: 400,
      NAME_UNKNOWN: 404,
      SIZE_INVALID: 400,
      UNAUTHORIZED: 401,
      DENIED: 403,
      UNSUPPORTED: 405,
      TOOMANYREQUESTS: 429,
    };
    for (const [code, status] of Object.entries(expected)) {
      assert.equal(ERROR_TABLE[code as keyof typeof ERROR_TABLE].status, status, code);
    }
  });

  it('uses the bk-repo numbers PRODUCT.md names', () => {
    assert.equal(ERROR_TABLE.PARAMETER_INVALID.ext, 250105);
    assert.equal(ERROR_TABLE.NOT_FOUND.ext, 250108);
    assert.equal(ERROR_TABLE.DENIED.ext, 250113);
    assert.equal(ERROR_TABLE.UNAUTHORIZED.ext, 250114);
    assert.equal(ERROR_TABLE.MANIFEST_INVALID.ext, 251907);
    assert.equal(ERROR_TABLE.DIGEST_INVALID.ext, 251908);
  });

  it('has a message for every code', () => {
    for (const [code, entry] of Object.entries(ERROR_TABLE)) assert.ok(entry.message.length > 0, code);
  });

  it('turns a full disk, quota or database into 507 INSUFFICIENT_STORAGE and anything else into 500', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'SQLITE_FULL']) {
      const cause = Object.assign(new Error('no room'), { code });
      const err = unexpectedError(cause);
      assert.equal(err.code, 'INSUFFICIENT_STORAGE');
      assert.equal(err.status, 507);
      assert.equal(err.cause, cause);
    }
    for (const cause of [Object.assign(new Error('x'), { code: 'EIO' }), new Error('y'), 'z', undefined]) {
      assert.equal(unexpectedError(cause).status, 500);
    }
  });
});
