/**
 * The BlobStore contract on a real S3-compatible server (Ceph radosgw in CI). Needs
 * `BERTH_TEST_S3_ENDPOINT`, `BERTH_TEST_S3_ACCESS_KEY_ID`, `BERTH_TEST_S3_SECRET_ACCESS_KEY`
 * (scripts/services/s3.sh starts one; `npm run test:all` does it for you). Every test gets a key
 * prefix of its own in the bucket `BERTH_TEST_S3_BUCKET` (default berth-test), emptied afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { digestOf, type Digest } from '../../src/domain/digest.ts';
import { RegistryError } from '../../src/domain/errors.ts';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/storage/s3/s3-blob-store.ts';
import { S3Context } from '../../src/storage/s3/s3-context.ts';
import { S3UploadStaging } from '../../src/storage/s3/s3-upload-staging.ts';
import { blobStoreContract, collect } from './blob-store.contract.ts';

const endpoint = process.env.BERTH_TEST_S3_ENDPOINT;

/** Settings for the test server, with a fresh prefix. */
export function testS3Options(over: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions {
  return {
    endpoint: endpoint!,
    bucket: process.env.BERTH_TEST_S3_BUCKET ?? 'berth-test',
    region: process.env.BERTH_TEST_S3_REGION ?? 'us-east-1',
    accessKeyId: process.env.BERTH_TEST_S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: process.env.BERTH_TEST_S3_SECRET_ACCESS_KEY ?? '',
    forcePathStyle: true,
    prefix: `t-${randomBytes(6).toString('hex')}`,
    chunkBytes: 5 * 1024 * 1024,
    ...over,
  };
}

if (!endpoint) {
  describe('BlobStore contract: s3', () => {
    it('skipped: set BERTH_TEST_S3_ENDPOINT (scripts/services/s3.sh start) to run it', { skip: 'BERTH_TEST_S3_ENDPOINT is not set' }, () => {});
  });
} else {
  blobStoreContract('s3', async () => {
    const options = testS3Options({ redirectSeconds: 600 });
    const store = new S3BlobStore(options);
    await store.init({ create: true });
    return {
      store,
      // A second client: the contract closes the store before cleanup.
      cleanup: async () => {
        const sweeper = new S3BlobStore(options);
        try {
          for await (const digest of sweeper.list()) await sweeper.deleteMany([digest]);
          for await (const upload of sweeper.uploads.list()) await sweeper.uploads.abort(upload.id);
        } finally {
          await sweeper.close();
        }
      },
    };
  });
}

/**
 * An upload's objects taken between the listing a staging operation starts from and the requests
 * it makes next: by a GC sweep, a cancel or a commit of the same upload on another node. Each
 * case runs `meanwhile` (through a second client) right before the named request goes out.
 */
describe('S3 upload staging: an upload taken while it is used', { skip: endpoint ? false : 'BERTH_TEST_S3_ENDPOINT is not set' }, () => {
  const CHUNK = 5 * 1024 * 1024;
  let options: S3BlobStoreOptions;
  let store: S3BlobStore;
  let staging: S3UploadStaging;
  let other: S3UploadStaging;
  let contexts: S3Context[];
  let armed: { command: string; meanwhile: () => Promise<void> } | undefined;

  beforeEach(async () => {
    options = testS3Options({ chunkBytes: CHUNK });
    store = new S3BlobStore(options);
    await store.init({ create: true });
    const hooked = new S3Context(options);
    hooked.client.middlewareStack.add(
      (next, context) => async (args) => {
        const hook = armed;
        if (hook && context.commandName === hook.command) {
          armed = undefined;
          await hook.meanwhile();
        }
        return next(args);
      },
      { step: 'initialize', name: 'testMeanwhile' },
    );
    const plain = new S3Context(options);
    contexts = [hooked, plain];
    staging = new S3UploadStaging(hooked, (d) => store.keyOf(d), CHUNK);
    other = new S3UploadStaging(plain, (d) => store.keyOf(d), CHUNK);
  });
  afterEach(async () => {
    armed = undefined;
    for await (const digest of store.list()) await store.deleteMany([digest]);
    for await (const upload of store.uploads.list()) await store.uploads.abort(upload.id);
    await store.close();
    for (const c of contexts) c.client.destroy();
  });

  const gone = (err: unknown) => err instanceof RegistryError && err.code === 'BLOB_UPLOAD_UNKNOWN';

  async function staged(bytes: Buffer): Promise<{ id: string; digest: Digest }> {
    const id = randomUUID();
    await other.create(id);
    await other.append(id, 0, Readable.from([bytes]));
    return { id, digest: digestOf(bytes) };
  }

  it('commit of one chunk whose upload is aborted before the copy: BLOB_UPLOAD_UNKNOWN, nothing stored', async () => {
    const { id, digest } = await staged(Buffer.from('one small chunk'));
    armed = { command: 'CopyObjectCommand', meanwhile: () => other.abort(id) };
    await assert.rejects(staging.commit(id, digest), gone);
    assert.equal(armed, undefined, 'the abort ran');
    assert.equal(await store.stat(digest), undefined);
  });

  it('commit of several chunks whose upload is aborted while they are assembled: BLOB_UPLOAD_UNKNOWN, nothing stored', async () => {
    const { id, digest } = await staged(Buffer.alloc(CHUNK + 1, 9));
    armed = { command: 'UploadPartCopyCommand', meanwhile: () => other.abort(id) };
    await assert.rejects(staging.commit(id, digest), gone);
    assert.equal(await store.stat(digest), undefined);
  });

  it('commit whose chunks a commit of the same upload elsewhere took first resolves: the blob is there', async () => {
    const bytes = Buffer.from('committed twice at once');
    const { id, digest } = await staged(bytes);
    armed = { command: 'CopyObjectCommand', meanwhile: () => other.commit(id, digest) };
    await staging.commit(id, digest);
    assert.deepEqual(await collect(await store.read(digest)), bytes);
  });

  it('append that refills a partial chunk of an upload aborted meanwhile: BLOB_UPLOAD_UNKNOWN', async () => {
    const { id } = await staged(Buffer.from('partial'));
    armed = { command: 'GetObjectCommand', meanwhile: () => other.abort(id) };
    await assert.rejects(staging.append(id, 7, Readable.from([Buffer.from(' and more')])), gone);
  });

  it('read of an upload aborted after it was listed errors with BLOB_UPLOAD_UNKNOWN', async () => {
    const { id } = await staged(Buffer.from('to be read'));
    armed = { command: 'GetObjectCommand', meanwhile: () => other.abort(id) };
    await assert.rejects(collect(staging.read(id)), gone);
  });
});
