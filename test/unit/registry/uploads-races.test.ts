import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { digestOf } from '../../../src/domain/digest.ts';
import { isRegistryError } from '../../../src/domain/errors.ts';
import { Repositories } from '../../../src/registry/repositories.ts';
import { Uploads } from '../../../src/registry/uploads.ts';
import { useTestDeps } from '../../support/registry-deps.ts';

describe('Uploads: a session that expires while a chunk is written', () => {
  const t = useTestDeps();

  it('the chunk is refused with BLOB_UPLOAD_UNKNOWN, not accepted', async () => {
    const uploads = new Uploads(t.deps, new Repositories(t.deps));
    const { id } = await uploads.start('proj/repo/app', { actor: 'admin', mayCreate: true });
    const chunk = new PassThrough();
    const appended = uploads.append('proj/repo/app', id, chunk, undefined, undefined);
    chunk.write(Buffer.alloc(1000, 1));
    await new Promise((resolve) => setImmediate(resolve));
    await t.metadata.uploads.delete(id); // what upload expiry does while the chunk is still arriving
    chunk.end(Buffer.alloc(1000, 2));
    await assert.rejects(appended, (err) => isRegistryError(err) && err.code === 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('Uploads: a cancel that arrives while a PUT completes the upload', () => {
  const t = useTestDeps();

  it('waits for the PUT, then answers BLOB_UPLOAD_UNKNOWN, and the blob stays', async () => {
    const uploads = new Uploads(t.deps, new Repositories(t.deps));
    const name = 'proj/repo/app';
    const { id } = await uploads.start(name, { actor: 'admin', mayCreate: true });
    const bytes = Buffer.alloc(2000, 7);
    const digest = digestOf(bytes);
    const body = new PassThrough();
    const finished = uploads.finish(name, id, digest, body, undefined, undefined);
    body.write(bytes.subarray(0, 1000));
    await new Promise((resolve) => setImmediate(resolve));
    const cancelled = uploads.cancel(name, id); // waits for the PUT, then looks for the session
    await new Promise((resolve) => setImmediate(resolve));
    body.end(bytes.subarray(1000));
    assert.equal(await finished, digest);
    await assert.rejects(cancelled, (err) => isRegistryError(err) && err.code === 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await t.deps.blobs.stat(digest))?.size, bytes.length);
  });
});
