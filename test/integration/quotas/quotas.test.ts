/**
 * Quotas per project and per repo through HTTP: set and shown by the management API with usage,
 * enforced on every push path (monolithic and chunked uploads, mount, manifest PUT) with DENIED
 * naming the quota, nothing stored on refusal, usage following deletes and GC, and concurrent
 * pushes never taking a repo over its quota.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { buildImage, sha256 } from '../../support/oci-image-builder.ts';
import { pushImage } from '../../support/push-image.ts';
import type { TestServer } from '../../support/test-server.ts';
import { data, json, onBothDatabases, putManifest, uploadBlob, type Envelope, type OciErrors } from './quota-harness.ts';

interface RepoInfo {
  quota: number | null;
  usedBytes: number;
  immutableTags: boolean;
}

const repoInfo = async (server: TestServer, project: string, repo: string) => data<RepoInfo>(await server.fetch(`/repository/api/repo/info/${project}/${repo}`));
const projectInfo = async (server: TestServer, project: string) => data<{ quota: number | null; usedBytes: number }>(await server.fetch(`/repository/api/project/info/${project}`));

/** Bytes an image adds to an empty repo: config, layers and manifest. */
const imageBytes = (img: ReturnType<typeof buildImage>) => img.config.size + img.layers.reduce((a, l) => a + l.size, 0) + img.manifest.length;

async function expectDenied(res: Response, pattern: RegExp): Promise<void> {
  assert.equal(res.status, 403, await res.clone().text());
  const body = (await res.json()) as OciErrors;
  assert.equal(body.errors[0]!.code, 'DENIED');
  assert.match(body.errors[0]!.message, pattern);
}

onBothDatabases('quotas', (backend) => {
  let server: TestServer;
  before(async () => {
    server = await backend.start({ BERTH_GC_GRACE: '0', BERTH_GC_INTERVAL: '0' });
    assert.equal((await json(server, '/repository/api/project/create', { name: 'q' })).status, 200);
  });
  after(() => server.close());

  it('sets quotas through the management API and shows them with usage', async () => {
    const created = await data<RepoInfo>(await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'shown', quota: 1_000_000 }));
    assert.deepEqual({ quota: created.quota, usedBytes: created.usedBytes }, { quota: 1_000_000, usedBytes: 0 });
    const img = buildImage({ seed: 'shown' });
    await pushImage(server, 'q/shown/app', 'v1', img);
    assert.equal((await repoInfo(server, 'q', 'shown')).usedBytes, imageBytes(img));
    // The same blobs and manifest under a second image of the repo count once.
    await pushImage(server, 'q/shown/copy', 'v1', img);
    assert.equal((await repoInfo(server, 'q', 'shown')).usedBytes, imageBytes(img));
    const list = await data<(RepoInfo & { name: string })[]>(await server.fetch('/repository/api/repo/list/q'));
    assert.equal(list.find((r) => r.name === 'shown')!.usedBytes, imageBytes(img));
    // null and 0 both lift the quota; negative and fractional are refused.
    assert.equal((await data<RepoInfo>(await json(server, '/repository/api/repo/update/q/shown', { quota: 0 }))).quota, null);
    assert.equal((await data<RepoInfo>(await json(server, '/repository/api/repo/update/q/shown', { quota: 5000 }))).quota, 5000);
    assert.equal((await data<RepoInfo>(await json(server, '/repository/api/repo/update/q/shown', { quota: null }))).quota, null);
    for (const quota of [-1, 1.5, 'lots']) {
      const res = await json(server, '/repository/api/repo/update/q/shown', { quota });
      assert.equal(res.status, 400, String(quota));
      assert.equal(((await res.json()) as Envelope).code, 250105);
    }
    const p = await data<{ quota: number | null; usedBytes: number }>(await json(server, '/repository/api/project/update/q', { quota: 10_000_000 }));
    assert.equal(p.quota, 10_000_000);
    assert.equal(p.usedBytes, imageBytes(img));
    assert.equal((await data<{ quota: number | null }>(await json(server, '/repository/api/project/update/q', { quota: null }))).quota, null);
  });

  it('refuses a monolithic upload over the repo quota with DENIED naming it, and stores nothing', async () => {
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'mono', quota: 1000 });
    const small = randomBytes(600);
    assert.equal((await uploadBlob(server, 'q/mono/app', small, sha256(small))).status, 201);
    const big = randomBytes(600);
    await expectDenied(await uploadBlob(server, 'q/mono/app', big, sha256(big)), /quota of repo "q\/mono" exceeded: limit 1000 bytes, used 600 bytes, this push adds 600 bytes/);
    assert.equal((await server.fetch(`/v2/q/mono/app/blobs/${sha256(big)}`, { method: 'HEAD' })).status, 404);
    assert.equal((await repoInfo(server, 'q', 'mono')).usedBytes, 600);
    // The same blob again adds nothing and passes.
    assert.equal((await uploadBlob(server, 'q/mono/app', small, sha256(small))).status, 201);
    // Through the management envelope the push error is the same 403.
    const res = await server.fetch(`/v2/q/mono/app/blobs/uploads/?digest=${sha256(big)}`, { method: 'POST', body: new Uint8Array(big) });
    assert.equal(res.status, 403);
  });

  it('refuses a chunked upload at its finish and drops the session', async () => {
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'chunked', quota: 100 });
    const bytes = randomBytes(300);
    const start = await server.fetch('/v2/q/chunked/app/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const patch = await server.fetch(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) });
    assert.equal(patch.status, 202);
    const put = await server.fetch(`${patch.headers.get('location')!}${patch.headers.get('location')!.includes('?') ? '&' : '?'}digest=${sha256(bytes)}`, { method: 'PUT' });
    await expectDenied(put, /quota of repo "q\/chunked" exceeded: limit 100 bytes/);
    assert.equal((await server.fetch(location)).status, 404);
    assert.equal((await repoInfo(server, 'q', 'chunked')).usedBytes, 0);
  });

  it('refuses a mount over quota and a manifest PUT whose manifest would exceed it', async () => {
    const img = buildImage({ seed: 'mount-src' });
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'src' });
    await pushImage(server, 'q/src/app', 'v1', img);
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'dst', quota: img.config.size });
    const layer = img.layers[0]!;
    await expectDenied(
      await server.fetch(`/v2/q/dst/app/blobs/uploads/?mount=${layer.digest}&from=q/src/app`, { method: 'POST' }),
      /quota of repo "q\/dst" exceeded/,
    );
    assert.equal((await server.fetch(`/v2/q/dst/app/blobs/${layer.digest}`, { method: 'HEAD' })).status, 404);

    // Blobs fit exactly; the manifest's own bytes then go over.
    const blobBytes = img.config.size + img.layers.reduce((a, l) => a + l.size, 0);
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'man', quota: blobBytes });
    for (const b of [img.config, ...img.layers]) assert.equal((await uploadBlob(server, 'q/man/app', b.bytes, b.digest)).status, 201);
    await expectDenied(await putManifest(server, 'q/man/app', 'v1', img.manifest, img.mediaType), /quota of repo "q\/man" exceeded: .*this push adds \d+ bytes/);
    assert.equal((await server.fetch('/v2/q/man/app/manifests/v1')).status, 404);
    // Room for it: the same push passes; pushing the same digest under another tag adds nothing.
    await json(server, '/repository/api/repo/update/q/man', { quota: imageBytes(img) });
    assert.equal((await putManifest(server, 'q/man/app', 'v1', img.manifest, img.mediaType)).status, 201);
    assert.equal((await putManifest(server, 'q/man/app', 'v2', img.manifest, img.mediaType)).status, 201);
    assert.equal((await repoInfo(server, 'q', 'man')).usedBytes, imageBytes(img));
  });

  it('a project quota spans its repos; a blob shared by two repos counts in each repo and once in the project', async () => {
    await json(server, '/repository/api/project/create', { name: 'pq' });
    const img = buildImage({ seed: 'pq-shared' });
    await pushImage(server, 'pq/a/app', 'v1', img);
    await pushImage(server, 'pq/b/app', 'v1', img);
    assert.equal((await repoInfo(server, 'pq', 'a')).usedBytes, imageBytes(img));
    assert.equal((await repoInfo(server, 'pq', 'b')).usedBytes, imageBytes(img));
    assert.equal((await projectInfo(server, 'pq')).usedBytes, imageBytes(img));
    await json(server, '/repository/api/project/update/pq', { quota: imageBytes(img) + 100 });
    // Mounting or pushing what the project already holds into another repo adds nothing to the project.
    await pushImage(server, 'pq/c/app', 'v1', img);
    const extra = randomBytes(200);
    await expectDenied(await uploadBlob(server, 'pq/c/app', extra, sha256(extra)), /quota of project "pq" exceeded: limit .*\(\d+ bytes\), used .*\(\d+ bytes\), this push adds 200 bytes/);
  });

  it('usage follows deletes and GC', async () => {
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'del' });
    const a = buildImage({ seed: 'del-a' });
    const b = buildImage({ seed: 'del-b' });
    await pushImage(server, 'q/del/a', 'v1', a);
    await pushImage(server, 'q/del/b', 'v1', b);
    assert.equal((await repoInfo(server, 'q', 'del')).usedBytes, imageBytes(a) + imageBytes(b));
    // Deleting an image through /docker/api takes its links with it: usage drops at once.
    assert.equal((await server.fetch('/docker/api/repo/q/del/a', { method: 'DELETE' })).status, 200);
    assert.equal((await repoInfo(server, 'q', 'del')).usedBytes, imageBytes(b));
    // A /v2 manifest delete leaves the blob links until GC removes them.
    assert.equal((await server.fetch(`/v2/q/del/b/manifests/${b.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await repoInfo(server, 'q', 'del')).usedBytes, imageBytes(b) - b.manifest.length);
    await server.app.gc.collect();
    assert.equal((await repoInfo(server, 'q', 'del')).usedBytes, 0);
  });

  it('concurrent pushes never take a repo over its quota', async () => {
    const size = 4096;
    const quota = 3 * size + size / 2;
    await json(server, '/repository/api/repo/create', { projectId: 'q', name: 'race', quota });
    const blobs = Array.from({ length: 12 }, () => randomBytes(size));
    const results = await Promise.all(blobs.map((bytes, i) => uploadBlob(server, `q/race/app${i % 3}`, bytes, sha256(bytes))));
    const statuses = await Promise.all(results.map(async (r) => (await r.arrayBuffer(), r.status)));
    assert.equal(statuses.filter((s) => s === 201).length, 3, String(statuses));
    assert.equal(statuses.filter((s) => s === 403).length, 9, String(statuses));
    assert.equal((await repoInfo(server, 'q', 'race')).usedBytes, 3 * size);

    // Whole images too: room for one more, two race for it. Their blobs interleave, so both may
    // fail; never may both land, and every refusal is a clean DENIED.
    const imgs = [buildImage({ seed: 'race-x', layers: 1 }), buildImage({ seed: 'race-y', layers: 1 })];
    await json(server, '/repository/api/repo/update/q/race', { quota: 3 * size + Math.max(...imgs.map(imageBytes)) + 10 });
    const pushes = await Promise.allSettled(imgs.map((img, i) => pushImage(server, `q/race/img${i}`, 'v1', img)));
    assert.ok(pushes.filter((p) => p.status === 'fulfilled').length <= 1);
    for (const p of pushes) if (p.status === 'rejected') assert.match(String(p.reason), /HTTP 403 .*DENIED/);
    const info = await repoInfo(server, 'q', 'race');
    assert.ok(info.usedBytes <= info.quota!, `${info.usedBytes} > ${info.quota}`);
  });
});
