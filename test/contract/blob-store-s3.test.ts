/**
 * The BlobStore contract on a real S3-compatible server (Ceph radosgw in CI). Needs
 * `BERTH_TEST_S3_ENDPOINT`, `BERTH_TEST_S3_ACCESS_KEY_ID`, `BERTH_TEST_S3_SECRET_ACCESS_KEY`
 * (scripts/services/s3.sh starts one; `npm run test:all` does it for you). Every test gets a key
 * prefix of its own in the bucket `BERTH_TEST_S3_BUCKET` (default berth-test), emptied afterwards.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/storage/s3/s3-blob-store.ts';
import { blobStoreContract } from './blob-store.contract.ts';

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
