/**
 * Tag retention rules per repo: set and read through the management API, previewed, applied by
 * GC (dry run reports without removing), then the untagged policy, links and blobs follow.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildImage } from '../../support/oci-image-builder.ts';
import { pushImage } from '../../support/push-image.ts';
import type { TestServer } from '../../support/test-server.ts';
import { data, json, onBothDatabases, type Envelope } from './quota-harness.ts';

onBothDatabases('tag retention', (backend) => {
  let server: TestServer;
  before(async () => {
    server = await backend.start({ BERTH_GC_GRACE: '0', BERTH_GC_INTERVAL: '0', BERTH_GC_UNTAGGED: 'true' });
    assert.equal((await json(server, '/repository/api/project/create', { name: 'rt' })).status, 200);
    assert.equal((await json(server, '/repository/api/repo/create', { projectId: 'rt', name: 'ci' })).status, 200);
  });
  after(() => server.close());

  const tags = async (name: string) => ((await (await server.fetch(`/v2/${name}/tags/list`)).json()) as { tags: string[] }).tags.sort();

  it('validates, stores and returns rules', async () => {
    assert.deepEqual(await data(await server.fetch('/repository/api/repo/retention/rt/ci')), []);
    for (const bad of [{ pattern: 'v*' }, [{ pattern: '', keepLast: 1 }], [{ pattern: 'a/b', keepLast: 1 }], [{ pattern: 'v*', keepLast: -1 }], 'x']) {
      const res = await json(server, '/repository/api/repo/retention/rt/ci', bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(((await res.json()) as Envelope).code, 250105);
    }
    const rules = [{ pattern: 'v*', keepLast: 2 }, { pattern: 'rc-?', keepLast: 1 }];
    assert.deepEqual(await data(await json(server, '/repository/api/repo/retention/rt/ci', rules)), rules);
    assert.deepEqual(await data(await server.fetch('/repository/api/repo/retention/rt/ci')), rules);
    assert.equal((await json(server, '/repository/api/repo/retention/rt/nope', rules)).status, 404);
  });

  it('GC keeps the newest matching tags per image and removes the rest; dry run only reports', async () => {
    const images = Array.from({ length: 5 }, (_, i) => buildImage({ seed: `rt-${i}`, layers: 1 }));
    // Pushed oldest first; a pause between pushes gives each a distinct push time.
    for (const [i, img] of images.entries()) {
      await pushImage(server, 'rt/ci/app', `v${i + 1}`, img);
      await sleep(5);
    }
    await pushImage(server, 'rt/ci/app', 'latest', images[4]!);
    await pushImage(server, 'rt/ci/app', 'rc-1', images[0]!);
    await sleep(5);
    await pushImage(server, 'rt/ci/app', 'rc-2', images[1]!);
    await pushImage(server, 'rt/ci/other', 'v1', images[0]!); // per image: its only v* tag stays

    const preview = await data<{ image: string; tag: string }[]>(await server.fetch('/repository/api/repo/retention/preview/rt/ci'));
    assert.deepEqual(preview.map((t) => `${t.image}:${t.tag}`).sort(), ['app:rc-1', 'app:v1', 'app:v2', 'app:v3']);

    const dry = await server.app.gc.collect({ dryRun: true });
    assert.equal(dry.tagsExpired, 4);
    assert.deepEqual(dry.expiredTags.map((t) => `${t.name}:${t.tag}`).sort(), ['rt/ci/app:rc-1', 'rt/ci/app:v1', 'rt/ci/app:v2', 'rt/ci/app:v3']);
    assert.deepEqual(await tags('rt/ci/app'), ['latest', 'rc-1', 'rc-2', 'v1', 'v2', 'v3', 'v4', 'v5']);

    const usedBefore = (await data<{ usedBytes: number }>(await server.fetch('/repository/api/repo/info/rt/ci'))).usedBytes;
    const real = await server.app.gc.collect();
    assert.equal(real.tagsExpired, 4);
    assert.deepEqual(await tags('rt/ci/app'), ['latest', 'rc-2', 'v4', 'v5']);
    assert.deepEqual(await tags('rt/ci/other'), ['v1']);
    // images[0] (v1, rc-1) and images[2] (v3) lost all their tags in app: the untagged policy
    // removed them, and GC freed the layer of images[2] (images[0] lives on in rt/ci/other).
    assert.equal(real.manifestsRemoved, 2);
    assert.equal((await server.fetch(`/v2/rt/ci/app/manifests/${images[0]!.digest}`)).status, 404);
    assert.equal((await server.fetch(`/v2/rt/ci/app/manifests/${images[2]!.digest}`)).status, 404);
    assert.equal((await server.fetch(`/v2/rt/ci/other/manifests/${images[0]!.digest}`)).status, 200);
    assert.ok(real.blobsDeleted >= 1);
    for (const t of ['latest', 'rc-2', 'v4', 'v5']) assert.equal((await server.fetch(`/v2/rt/ci/app/manifests/${t}`)).status, 200);
    assert.ok((await data<{ usedBytes: number }>(await server.fetch('/repository/api/repo/info/rt/ci'))).usedBytes < usedBefore);
    // A second run finds nothing more.
    assert.equal((await server.app.gc.collect()).tagsExpired, 0);
  });

  it('a repo with immutable tags is left alone; [] removes the rules', async () => {
    await json(server, '/repository/api/repo/create', { projectId: 'rt', name: 'locked', immutableTags: true });
    await json(server, '/repository/api/repo/retention/rt/locked', [{ pattern: '*', keepLast: 0 }]);
    await pushImage(server, 'rt/locked/app', 'v1', buildImage({ seed: 'locked', layers: 1 }));
    assert.equal((await server.app.gc.collect()).tagsExpired, 0);
    assert.deepEqual(await tags('rt/locked/app'), ['v1']);
    assert.deepEqual(await data(await json(server, '/repository/api/repo/retention/rt/ci', [])), []);
  });
});
