import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, type BuiltImage } from '../support/oci-image-builder.ts';
import { basicAuth, E2E_ADMIN_PASSWORD, REPO_ROOT, type ServerProcess, startServerProcess } from '../support/server-process.ts';
import { freshSchema, withSchema } from '../support/postgres.ts';

/**
 * Scale-out end to end: three Berth processes on their own ports and data dirs, sharing one
 * PostgreSQL schema and one S3 prefix (real servers: scripts/services/*.sh). Skipped unless both
 * BERTH_TEST_DATABASE_URL and BERTH_TEST_S3_ENDPOINT are set.
 */
const databaseUrl = process.env.BERTH_TEST_DATABASE_URL;
const s3Endpoint = process.env.BERTH_TEST_S3_ENDPOINT;
const MiB = 1024 * 1024;

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

if (!databaseUrl || !s3Endpoint) {
  describe('scale-out: three nodes over PostgreSQL and S3', () => {
    it('skipped: needs BERTH_TEST_DATABASE_URL and BERTH_TEST_S3_ENDPOINT (npm run test:all starts both)', { skip: 'PostgreSQL or S3 test server not configured' }, () => {});
  });
} else {
  describe('scale-out: three nodes over PostgreSQL and S3', { timeout: 300_000 }, () => {
    const nodes: ServerProcess[] = [];
    let dropSchema: (() => Promise<void>) | undefined;
    let sharedEnv: Record<string, string> = {};
    const auth = basicAuth('admin', E2E_ADMIN_PASSWORD);

    before(async () => {
      const { schema, drop } = await freshSchema(databaseUrl);
      dropSchema = drop;
      const env = {
        BERTH_DATABASE_URL: withSchema(databaseUrl, schema),
        BERTH_STORAGE: 's3',
        BERTH_S3_ENDPOINT: s3Endpoint,
        BERTH_S3_BUCKET: process.env.BERTH_TEST_S3_BUCKET ?? 'berth-test',
        BERTH_S3_REGION: 'us-east-1',
        BERTH_S3_ACCESS_KEY_ID: process.env.BERTH_TEST_S3_ACCESS_KEY_ID ?? '',
        BERTH_S3_SECRET_ACCESS_KEY: process.env.BERTH_TEST_S3_SECRET_ACCESS_KEY ?? '',
        BERTH_S3_FORCE_PATH_STYLE: 'true',
        BERTH_S3_PREFIX: `e2e-${randomBytes(6).toString('hex')}`,
        BERTH_S3_CHUNK_MIB: '5',
        BERTH_GC_INTERVAL: '0',
      };
      sharedEnv = env;
      // All three at once: migrations (advisory lock), admin bootstrap and key creation race.
      const started = await Promise.allSettled([0, 1, 2].map(() => startServerProcess({ env, startTimeoutMs: 60_000 })));
      for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    });

    after(async () => {
      await Promise.all(nodes.map((n) => n.dispose()));
      await dropSchema?.();
    });

    const call = (node: ServerProcess, path: string, init: RequestInit = {}) =>
      fetch(`${node.url}${path}`, { ...init, headers: { authorization: auth, ...(init.headers as Record<string, string>) } });

    async function pushBlob(node: ServerProcess, name: string, bytes: Buffer): Promise<void> {
      const res = await call(node, `/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: new Uint8Array(bytes) });
      assert.equal(res.status, 201, `monolithic upload through ${node.host}: ${await res.text()}`);
    }

    async function pushImage(node: ServerProcess, name: string, tag: string, image: BuiltImage): Promise<void> {
      for (const blob of [image.config, ...image.layers]) await pushBlob(node, name, blob.bytes);
      const res = await call(node, `/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': image.mediaType }, body: new Uint8Array(image.manifest) });
      assert.equal(res.status, 201, `manifest through ${node.host}: ${await res.text()}`);
    }

    async function assertPull(node: ServerProcess, name: string, tag: string, image: BuiltImage): Promise<void> {
      const res = await call(node, `/v2/${name}/manifests/${tag}`, { headers: { accept: image.mediaType } });
      assert.equal(res.status, 200, `manifest from ${node.host}`);
      const manifest = Buffer.from(await res.arrayBuffer());
      assert.equal(sha256(manifest), image.digest, `manifest digest from ${node.host}`);
      for (const blob of [image.config, ...image.layers]) {
        const b = await call(node, `/v2/${name}/blobs/${blob.digest}`);
        assert.equal(b.status, 200, `blob ${blob.digest} from ${node.host}`);
        assert.equal(sha256(new Uint8Array(await b.arrayBuffer())), blob.digest);
      }
    }

    it('pushes through one node and pulls through another', async () => {
      const image = buildImage({ seed: 'scale-a', layers: 2, payloadBytes: 7 * MiB });
      await pushImage(nodes[0]!, 'demo/docker/app', 'v1', image);
      await assertPull(nodes[1]!, 'demo/docker/app', 'v1', image);
      await assertPull(nodes[2]!, 'demo/docker/app', image.digest, image);
    });

    it('runs one chunked upload across all three nodes', async () => {
      const bytes = randomBytes(13 * MiB + 12345);
      const digest = sha256(bytes);
      const name = 'demo/docker/chunked';
      const start = await call(nodes[0]!, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202, await start.text());
      let location = new URL(start.headers.get('location')!, nodes[0]!.url);
      const cuts = [0, 6 * MiB + 1, 9 * MiB, 11 * MiB + 7];
      for (let i = 0; i < cuts.length - 1; i++) {
        const node = nodes[(i + 1) % 3]!;
        const chunk = bytes.subarray(cuts[i], cuts[i + 1]);
        const res = await call(node, `${location.pathname}${location.search}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${cuts[i]}-${cuts[i + 1]! - 1}`, 'content-length': String(chunk.length) },
          body: new Uint8Array(chunk),
        });
        assert.equal(res.status, 202, `PATCH ${i} through ${node.host}: ${await res.text()}`);
        assert.equal(res.headers.get('range'), `0-${cuts[i + 1]! - 1}`);
        location = new URL(res.headers.get('location')!, node.url);
      }
      // Status from another node, then the last chunk and the digest through the third.
      const status = await call(nodes[2]!, `${location.pathname}${location.search}`);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${cuts[3]! - 1}`);
      const sep = location.search ? '&' : '?';
      const last = bytes.subarray(cuts[3]);
      const done = await call(nodes[2]!, `${location.pathname}${location.search}${sep}digest=${digest}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${cuts[3]}-${bytes.length - 1}`, 'content-length': String(last.length) },
        body: new Uint8Array(last),
      });
      assert.equal(done.status, 201, `finish through ${nodes[2]!.host}: ${await done.text()}`);
      for (const node of nodes) {
        const res = await call(node, `/v2/${name}/blobs/${digest}`);
        assert.equal(res.status, 200);
        assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), digest, `blob from ${node.host}`);
      }
      const ranged = await call(nodes[1]!, `/v2/${name}/blobs/${digest}`, { headers: { range: `bytes=${6 * MiB - 3}-${6 * MiB + 2}` } });
      assert.equal(ranged.status, 206);
      assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), bytes.subarray(6 * MiB - 3, 6 * MiB + 3));
    });

    it('concurrent pushes of the same image through two nodes both succeed', async () => {
      const image = buildImage({ seed: 'scale-same', layers: 3, payloadBytes: 2 * MiB });
      for (let round = 0; round < 3; round++) {
        await Promise.all([pushImage(nodes[0]!, 'demo/docker/same', 'latest', image), pushImage(nodes[1]!, 'demo/docker/same', 'latest', image)]);
      }
      await assertPull(nodes[2]!, 'demo/docker/same', 'latest', image);
    });

    it('GC run by a fourth process over the same database and bucket is safe while a node pushes and deletes', async () => {
      const gcDir = await mkdtemp(join(tmpdir(), 'berth-gc-node-'));
      const runGc = () =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, ['--import', 'tsx', 'src/main.ts', 'gc', '-d', gcDir], {
            cwd: REPO_ROOT,
            env: { ...process.env, ...sharedEnv, BERTH_GC_GRACE: '0', BERTH_LOG_LEVEL: 'silent' },
          }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
        });
      const images = [0, 1, 2, 3, 4, 5].map((i) => buildImage({ seed: `scale-gc-${i}`, layers: 2 }));
      let pushing = true;
      let freed = 0;
      let runs = 0;
      const gcLoop = (async () => {
        while (pushing || runs === 0) {
          const r = await runGc();
          assert.equal(r.code, 0, `berth gc failed: ${r.stderr}`);
          freed += Number(/^freed (\d+) blobs/m.exec(r.stdout)?.[1] ?? 0);
          runs++;
        }
      })();
      try {
        for (const [i, image] of images.entries()) {
          // With no grace period GC may take a blob between its upload and the manifest: such a push
          // fails cleanly (400/503) and is retried; nothing else may go wrong.
          for (let attempt = 1; ; attempt++) {
            try {
              await pushImage(nodes[0]!, 'demo/docker/gc', `v${i}`, image);
              break;
            } catch (err) {
              assert.match(String(err), /\b(MANIFEST_BLOB_UNKNOWN|UNAVAILABLE|BLOB_UPLOAD_UNKNOWN)\b/, 'only clean, retryable failures');
              assert.ok(attempt < 30, `push v${i} kept failing: ${String(err)}`);
            }
          }
          if (i % 2 === 1) {
            const del = await call(nodes[1]!, `/v2/demo/docker/gc/manifests/${images[i - 1]!.digest}`, { method: 'DELETE' });
            assert.equal(del.status, 202);
          }
        }
      } finally {
        pushing = false;
        await gcLoop;
      }
      const final = await runGc();
      assert.equal(final.code, 0, final.stderr);
      freed += Number(/^freed (\d+) blobs/m.exec(final.stdout)?.[1] ?? 0);
      await rm(gcDir, { recursive: true, force: true });
      assert.ok(runs > 0, 'GC ran while pushing');
      assert.ok(freed > 0, 'GC freed the deleted images\' blobs');
      for (const [i, image] of images.entries()) {
        if (i % 2 === 1) await assertPull(nodes[2]!, 'demo/docker/gc', `v${i}`, image);
        else assert.equal((await call(nodes[2]!, `/v2/demo/docker/gc/manifests/${image.digest}`, { method: 'HEAD' })).status, 404);
      }
    });

    it('a user disabled through one node is refused by the others within a second or so', async () => {
      const created = await call(nodes[0]!, '/auth/api/user/create', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'scale-erin', name: 'scale-erin', pwd: 'erin-password-1' }),
      });
      assert.equal(created.status, 200, await created.text());
      const erin = basicAuth('scale-erin', 'erin-password-1');
      const asErin = (node: ServerProcess) => fetch(`${node.url}/v2/`, { headers: { authorization: erin } });
      // Verified (and so cached) on the other two nodes first.
      for (const node of nodes.slice(1)) assert.equal((await asErin(node)).status, 200, `erin on ${node.host}`);

      const disabled = await call(nodes[0]!, '/auth/api/user/scale-erin/disable', { method: 'PUT' });
      assert.equal(disabled.status, 200, await disabled.text());
      assert.equal((await asErin(nodes[0]!)).status, 401, 'at once on the node that disabled her');
      // The others read the credential change counter at most every second: allow a generous margin.
      for (const node of nodes.slice(1)) {
        const deadline = Date.now() + 10_000;
        let status = 200;
        while (status === 200 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          status = (await asErin(node)).status;
        }
        assert.equal(status, 401, `erin still let in by ${node.host} (the cache outlived the change)`);
      }
    });

    it('a tag moved through one node is seen by the others at once', async () => {
      const one = buildImage({ seed: 'scale-move-1', layers: 1 });
      const two = buildImage({ seed: 'scale-move-2', layers: 1 });
      await pushImage(nodes[0]!, 'demo/docker/moving', 'stable', one);
      await assertPull(nodes[2]!, 'demo/docker/moving', 'stable', one);
      await pushImage(nodes[1]!, 'demo/docker/moving', 'stable', two);
      await assertPull(nodes[2]!, 'demo/docker/moving', 'stable', two);
      await assertPull(nodes[0]!, 'demo/docker/moving', 'stable', two);
    });
  });
}
