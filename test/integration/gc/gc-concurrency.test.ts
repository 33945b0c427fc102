/**
 * Online GC under load: GC runs in a loop (untagged policy on; a grace period of 2 s (uploads here take up to a few hundred ms:
 * fsync; more on a loaded machine, where a shorter grace made clean retries starve), and
 * every hundredth run none at all: the harshest settings) while workers push images and indexes sharing layers across images and projects,
 * and delete them, over HTTP. A push may fail cleanly (400/503: GC took something it was about
 * to reference, retry); nothing may fail otherwise. Afterwards every image that should exist
 * pulls with correct digests, deleted ones are gone, and fsck finds nothing wrong.
 * Runs on SQLite, and on PostgreSQL too when BERTH_TEST_DATABASE_URL is set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { Fsck } from '../../../src/registry/gc/fsck.ts';
import { GarbageCollector } from '../../../src/registry/gc/garbage-collector.ts';
import { buildImage, buildIndex, MediaTypes, sha256, type BuiltImage, type BuiltIndex } from '../../support/oci-image-builder.ts';
import { startTestServer, type TestServer } from '../../support/test-server.ts';

const WORKERS = 4;
const NAMES_PER_WORKER = 3;
const OPS_PER_WORKER = 24;
/** Clean failures are allowed and retried; liveness is not what this test is about, so the bound is generous. */
const MAX_ATTEMPTS = 100;
const ACCEPT = [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList].join(', ');

/** Contents shared between images: the same family pushed to different names shares every blob. */
const families: (BuiltImage | BuiltIndex)[] = [
  buildImage({ seed: 'fam-a', layers: 2 }),
  buildImage({ seed: 'fam-b', layers: 3 }),
  buildImage({ seed: 'fam-c', layers: 1 }),
  buildIndex([buildImage({ seed: 'fam-a', layers: 2 }), buildImage({ seed: 'fam-d', architecture: 'arm64', layers: 2 })]),
  buildIndex([buildImage({ seed: 'fam-b', layers: 3 }), buildImage({ seed: 'fam-c', layers: 1 })]),
];

class Failure extends Error {}

interface Stats {
  pushes: number;
  deletes: number;
  cleanFailures: number;
  gcRuns: number;
  blobsFreed: number;
  failureCodes: Record<string, number>;
}

async function expectOk(res: Response, status: number, what: string, stats: Stats): Promise<boolean> {
  if (res.status === status) {
    await res.arrayBuffer();
    return true;
  }
  const body = await res.text();
  // What GC may cause: a blob or child manifest gone before the manifest referenced it (400),
  // or a blob deleted while it was uploaded (503). Everything else is a bug.
  const code = /"code":"([A-Z_]+)"/.exec(body)?.[1];
  const clean = (res.status === 400 && ['MANIFEST_BLOB_UNKNOWN', 'MANIFEST_UNKNOWN', 'MANIFEST_INVALID'].includes(code ?? '')) || (res.status === 503 && code === 'UNAVAILABLE');
  if (!clean) throw new Failure(`${what}: HTTP ${res.status} ${body}`);
  stats.cleanFailures++;
  if (process.env.GC_DEBUG) process.stderr.write(`${what}: ${res.status} ${body}\n`);
  stats.failureCodes[`${res.status} ${code}`] = (stats.failureCodes[`${res.status} ${code}`] ?? 0) + 1;
  return false;
}

async function pushImageOnce(server: TestServer, name: string, reference: string, image: BuiltImage, stats: Stats): Promise<boolean> {
  for (const blob of [image.config, ...image.layers]) {
    const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes });
    if (!(await expectOk(res, 201, `blob ${blob.digest} into ${name}`, stats))) return false;
  }
  const res = await server.fetch(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': image.mediaType }, body: image.manifest });
  return expectOk(res, 201, `manifest ${name}:${reference}`, stats);
}

async function pushOnce(server: TestServer, name: string, content: BuiltImage | BuiltIndex, stats: Stats): Promise<boolean> {
  if (content.kind === 'image') return pushImageOnce(server, name, 'v1', content, stats);
  for (const child of content.children) if (!(await pushImageOnce(server, name, child.digest, child, stats))) return false;
  const res = await server.fetch(`/v2/${name}/manifests/v1`, { method: 'PUT', headers: { 'content-type': content.mediaType }, body: content.manifest });
  return expectOk(res, 201, `index ${name}:v1`, stats);
}

/** Pulls `reference` and everything under it, checking every digest. */
async function verifyPull(server: TestServer, name: string, reference: string, expected: string): Promise<void> {
  const res = await server.fetch(`/v2/${name}/manifests/${reference}`, { headers: { accept: ACCEPT } });
  assert.equal(res.status, 200, `${name}:${reference}: HTTP ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(sha256(body), expected, `${name}:${reference} manifest digest`);
  const parsed = JSON.parse(body.toString()) as { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
  for (const child of parsed.manifests ?? []) await verifyPull(server, name, child.digest, child.digest);
  for (const blob of [...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? [])]) {
    const b = await server.fetch(`/v2/${name}/blobs/${blob.digest}`);
    assert.equal(b.status, 200, `${name} blob ${blob.digest}: HTTP ${b.status}`);
    assert.equal(sha256(Buffer.from(await b.arrayBuffer())), blob.digest, `${name} blob ${blob.digest} content`);
  }
}

async function runScenario(env: Record<string, string>): Promise<void> {
  const server = await startTestServer({ BERTH_GC_INTERVAL: '0', BERTH_GC_GRACE: '0', BERTH_GC_UNTAGGED: 'true', ...env });
  const stats: Stats = { pushes: 0, deletes: 0, cleanFailures: 0, gcRuns: 0, blobsFreed: 0, failureCodes: {} };
  /** name -> the digest its tag v1 should resolve to; absent when the image was deleted. */
  const expected = new Map<string, string>();
  const deleted = new Map<string, string>();
  let seed = 12345;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  try {
    let stop = false;
    const quick = new GarbageCollector(server.app.deps, { graceMs: 2000, uploadTtlMs: 24 * 3600_000, untagged: true, batchSize: 7 });
    const none = new GarbageCollector(server.app.deps, { graceMs: 0, uploadTtlMs: 24 * 3600_000, untagged: true, batchSize: 7 });
    const gcLoop = (async () => {
      while (!stop) {
        const s = await (stats.gcRuns % 100 === 99 ? none : quick).collect();
        stats.gcRuns++;
        stats.blobsFreed += s.blobsDeleted;
        await new Promise((r) => setTimeout(r, random(3)));
      }
    })();
    const worker = async (w: number) => {
      const names = Array.from({ length: NAMES_PER_WORKER }, (_, i) => `p${(w + i) % 2}/docker/w${w}-img${i}`);
      for (let op = 0; op < OPS_PER_WORKER; op++) {
        const name = names[random(names.length)]!;
        const current = expected.get(name);
        if (current && random(3) === 0) {
          const res = await server.fetch(`/v2/${name}/manifests/${current}`, { method: 'DELETE' });
          assert.equal(res.status, 202, `delete ${name}@${current}: HTTP ${res.status} ${await res.text()}`);
          expected.delete(name);
          deleted.set(name, current);
          stats.deletes++;
          continue;
        }
        const content = families[random(families.length)]!;
        for (let attempt = 1; ; attempt++) {
          if (await pushOnce(server, name, content, stats)) break;
          if (attempt >= MAX_ATTEMPTS) throw new Failure(`push of ${name} kept failing cleanly ${MAX_ATTEMPTS} times: ${JSON.stringify(stats)}`);
        }
        expected.set(name, content.digest);
        deleted.delete(name);
        stats.pushes++;
      }
    };
    try {
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    } finally {
      stop = true;
      await gcLoop;
    }
    const final = await server.app.gc.collect();
    stats.blobsFreed += final.blobsDeleted;

    assert.ok(stats.pushes > 0 && stats.gcRuns > 0, JSON.stringify(stats));
    process.stderr.write(`gc concurrency: ${JSON.stringify(stats)}\n`);
    for (const [name, digest] of expected) await verifyPull(server, name, 'v1', digest);
    for (const [name, digest] of deleted) {
      const res = await server.fetch(`/v2/${name}/manifests/${digest}`, { method: 'HEAD', headers: { accept: ACCEPT } });
      assert.equal(res.status, 404, `${name}@${digest} was deleted`);
    }
    const report = await new Fsck(server.app.deps).run();
    assert.deepEqual(
      { missing: report.missingBlobs, corrupt: report.corruptBlobs, orphans: report.orphanBlobFiles, broken: report.brokenRefs, tags: report.danglingTags },
      { missing: [], corrupt: [], orphans: [], broken: [], tags: [] },
    );
    // Once nothing is referenced, everything goes.
    for (const [name, digest] of expected) {
      const res = await server.fetch(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
      assert.equal(res.status, 202);
    }
    await server.app.gc.collect();
    assert.equal((await new Fsck(server.app.deps).run()).blobsChecked, 0, 'every blob collected after every image was deleted');
  } finally {
    await server.close();
  }
}

describe('online GC while images are pushed and deleted', () => {
  it('SQLite: every remaining image pulls with correct digests', async () => {
    await runScenario({});
  });

  const url = process.env.BERTH_TEST_DATABASE_URL;
  it('PostgreSQL: every remaining image pulls with correct digests', { skip: url ? false : 'BERTH_TEST_DATABASE_URL is not set' }, async () => {
    const schema = `berth_gcc_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    try {
      const u = new URL(url!);
      u.searchParams.set('options', `-c search_path=${schema}`);
      await runScenario({ BERTH_DATABASE_URL: u.toString() });
    } finally {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
  });
});
