/**
 * Immutable tags (a repo setting): a pushed tag cannot move to another digest or be deleted
 * through /v2 or /docker/api; re-pushing the same digest is fine; two concurrent first pushes
 * of one tag with different digests cannot both win.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { buildImage } from '../../support/oci-image-builder.ts';
import { pushImage } from '../../support/push-image.ts';
import type { TestServer } from '../../support/test-server.ts';
import { data, json, onBothDatabases, putManifest, type Envelope, type OciErrors } from './quota-harness.ts';

async function denied(res: Response, pattern: RegExp): Promise<void> {
  assert.equal(res.status, 403);
  const body = (await res.json()) as OciErrors;
  assert.equal(body.errors[0]!.code, 'DENIED');
  assert.match(body.errors[0]!.message, pattern);
}

onBothDatabases('immutable tags', (backend) => {
  let server: TestServer;
  before(async () => {
    server = await backend.start({ BERTH_GC_INTERVAL: '0' });
    assert.equal((await json(server, '/repository/api/project/create', { name: 'im' })).status, 200);
  });
  after(() => server.close());

  const digestOf = async (name: string, tag: string) => (await server.fetch(`/v2/${name}/manifests/${tag}`, { method: 'HEAD' })).headers.get('docker-content-digest');

  it('refuses moving or deleting a tag; the same digest again and new tags are fine', async () => {
    const repo = await data<{ immutableTags: boolean }>(await json(server, '/repository/api/repo/create', { projectId: 'im', name: 'prod', immutableTags: true }));
    assert.equal(repo.immutableTags, true);
    const one = buildImage({ seed: 'im-one' });
    const two = buildImage({ seed: 'im-two' });
    await pushImage(server, 'im/prod/app', 'v1', one);
    await pushImage(server, 'im/prod/app', 'v1', one); // same digest: fine
    await pushImage(server, 'im/prod/app', 'v2', two); // blobs of `two` are now there too
    await denied(await putManifest(server, 'im/prod/app', 'v1', two.manifest, two.mediaType), /tag "v1" is immutable .* points at sha256:/);
    assert.equal(await digestOf('im/prod/app', 'v1'), one.digest);

    await denied(await server.fetch('/v2/im/prod/app/manifests/v1', { method: 'DELETE' }), /immutable tags: tag "v1" cannot be deleted/);
    await denied(await server.fetch(`/v2/im/prod/app/manifests/${one.digest}`, { method: 'DELETE' }), /immutable tags: manifest .* \(tagged v1\)/);
    const extTag = await server.fetch('/docker/api/tag/im/prod/app?tag=v1', { method: 'DELETE' });
    assert.equal(extTag.status, 403);
    const env = (await extTag.json()) as Envelope;
    assert.equal(env.code, 250113);
    assert.match(env.message!, /immutable/);
    assert.equal((await server.fetch('/docker/api/repo/im/prod/app', { method: 'DELETE' })).status, 403);
    assert.equal(await digestOf('im/prod/app', 'v1'), one.digest);

    // An untagged manifest can still go; switching the setting off lifts the rule.
    const three = buildImage({ seed: 'im-three' });
    await pushImage(server, 'im/prod/app', three.digest, three);
    assert.equal((await server.fetch(`/v2/im/prod/app/manifests/${three.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await data<{ immutableTags: boolean }>(await json(server, '/repository/api/repo/update/im/prod', { immutableTags: false }))).immutableTags, false);
    assert.equal((await putManifest(server, 'im/prod/app', 'v1', two.manifest, two.mediaType)).status, 201);
    assert.equal((await server.fetch('/v2/im/prod/app/manifests/v2', { method: 'DELETE' })).status, 202);
  });

  it('a mutable repo moves and deletes tags as before', async () => {
    const one = buildImage({ seed: 'mut-one' });
    const two = buildImage({ seed: 'mut-two' });
    await pushImage(server, 'im/dev/app', 'v1', one);
    await pushImage(server, 'im/dev/app', 'v1', two);
    assert.equal(await digestOf('im/dev/app', 'v1'), two.digest);
    assert.equal((await server.fetch('/v2/im/dev/app/manifests/v1', { method: 'DELETE' })).status, 202);
  });

  it('two concurrent first pushes of one tag with different digests: one wins, the other is DENIED', async () => {
    await json(server, '/repository/api/repo/create', { projectId: 'im', name: 'race', immutableTags: true });
    for (let round = 0; round < 5; round++) {
      const imgs = [buildImage({ seed: `race-a-${round}` }), buildImage({ seed: `race-b-${round}` })];
      for (const img of imgs) await pushImage(server, 'im/race/app', img.digest, img);
      const results = await Promise.all(imgs.map((img) => putManifest(server, 'im/race/app', `r${round}`, img.manifest, img.mediaType)));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 403]);
      const winner = imgs[results.findIndex((r) => r.status === 201)]!;
      assert.equal(await digestOf('im/race/app', `r${round}`), winner.digest);
    }
  });
});
