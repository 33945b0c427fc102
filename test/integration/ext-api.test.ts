import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildImage, buildMultiArchIndex } from '../support/oci-image-builder.ts';
import { asDockerSchema2, pushImage, pushIndex } from '../support/push-image.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

interface Envelope<T = unknown> {
  code: number;
  message: string | null;
  data: T;
  traceId: string;
}

const DATE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$/;

async function json<T>(res: Response): Promise<Envelope<T>> {
  const body = (await res.json()) as Envelope<T>;
  assert.equal(typeof body.traceId, 'string');
  assert.ok(body.traceId.length > 0, 'traceId is non-empty');
  assert.equal(res.headers.get('x-trace-id'), body.traceId);
  return body;
}

describe('Docker extension API (/docker/api)', () => {
  let server: TestServer;
  const oci = buildImage({ seed: 'ext-oci', layers: 3, labels: { maintainer: 'team@example.com' } });
  const docker = buildImage({ seed: 'ext-docker', layers: 2 });
  const index = buildMultiArchIndex('ext-multi');
  let ociDigest: string;
  let dockerDigest: string;

  before(async () => {
    server = await startTestServer();
    ociDigest = await pushImage(server, 'demo/docker/app', 'v1', oci);
    await pushImage(server, 'demo/docker/app', 'latest', oci);
    dockerDigest = await pushImage(server, 'demo/docker/team/tool', '1.0', docker, { docker: true });
    await pushIndex(server, 'demo/docker/multi', 'v2', index);
    await pushImage(server, 'other/docker/secret', 'v1', buildImage({ seed: 'secret' }));
  });
  after(() => server.close());

  it('returns the manifest exactly as pushed, by tag and by digest, nested names included', async () => {
    for (const ref of ['v1', ociDigest]) {
      const res = await server.fetch(`/docker/api/manifest/demo/docker/app/${ref}`);
      assert.equal(res.status, 200);
      const body = await json<string>(res);
      assert.equal(body.code, 0);
      assert.equal(body.message, null);
      assert.equal(body.data, oci.manifest.toString());
    }
    const nested = await json<string>(await server.fetch('/docker/api/manifest/demo/docker/team/tool/1.0'));
    assert.equal(nested.data, asDockerSchema2(docker).manifest.toString());
  });

  it('answers 404 + 250108 for unknown project, repo, image and tag', async () => {
    for (const path of ['/docker/api/manifest/nope/docker/app/v1', '/docker/api/manifest/demo/nope/app/v1', '/docker/api/manifest/demo/docker/nope/v1', '/docker/api/manifest/demo/docker/app/v9']) {
      const res = await server.fetch(path);
      assert.equal(res.status, 404, path);
      const body = await json<null>(res);
      assert.equal(body.code, 250108);
      assert.ok(body.message && body.message.length > 0);
      assert.equal(body.data, null);
    }
  });

  it('streams layers by sha256: and sha256__ ids, honours Range, and refuses blobs of other images', async () => {
    const layer = oci.layers[1]!;
    for (const id of [layer.digest, layer.digest.replace(':', '__')]) {
      const res = await server.fetch(`/docker/api/layer/demo/docker/app/${id}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.equal(res.headers.get('content-length'), String(layer.size));
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), layer.bytes);
    }
    const ranged = await server.fetch(`/docker/api/layer/demo/docker/app/${layer.digest}`, { headers: { range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), layer.bytes.subarray(10, 20));
    const foreign = buildImage({ seed: 'secret' }).layers[0]!.digest;
    const probe = await server.fetch(`/docker/api/layer/demo/docker/app/${foreign}`);
    assert.equal(probe.status, 404);
    assert.equal((await json(probe)).code, 250108);
    const bad = await server.fetch('/docker/api/layer/demo/docker/app/sha256__nothex');
    assert.equal(bad.status, 400);
    assert.equal((await json(bad)).code, 250105);
  });

  it('lists images of a repo with paging, filter, X-Total-Count and the seed fields', async () => {
    const res = await server.fetch('/docker/api/repo/demo/docker?pageNumber=0&pageSize=10');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-total-count'), '3');
    const body = await json<{ name: string; createdBy: string; downloadCount: number; createdDate: string }[]>(res);
    assert.deepEqual(body.data.map((i) => i.name), ['app', 'multi', 'team/tool']);
    for (const item of body.data) {
      assert.deepEqual(Object.keys(item).sort(), ['createdBy', 'createdDate', 'downloadCount', 'name']);
      assert.equal(item.createdBy, 'admin');
      assert.match(item.createdDate, DATE);
    }
    const page2 = await json<{ name: string }[]>(await server.fetch('/docker/api/repo/demo/docker?pageNumber=2&pageSize=2'));
    assert.deepEqual(page2.data.map((i) => i.name), ['team/tool']);
    const filtered = await json<{ name: string }[]>(await server.fetch('/docker/api/repo/demo/docker?name=too'));
    assert.deepEqual(filtered.data.map((i) => i.name), ['team/tool']);
    const wildcard = await json<{ name: string }[]>(await server.fetch('/docker/api/repo/demo/docker?name=%25'));
    assert.deepEqual(wildcard.data, []);
    for (const q of ['pageSize=0', 'pageSize=1001', 'pageNumber=-1', 'pageSize=abc']) {
      const bad = await server.fetch(`/docker/api/repo/demo/docker?${q}`);
      assert.equal(bad.status, 400, q);
      assert.equal((await json(bad)).code, 250105);
    }
  });

  it('pages tags with the right X-Total-Count on full, partial and past-the-end pages', async () => {
    const cases: [string, string[]][] = [
      ['pageNumber=1&pageSize=1', ['latest']],
      ['pageNumber=2&pageSize=1', ['v1']],
      ['pageNumber=1&pageSize=2', ['latest', 'v1']],
      ['pageNumber=1&pageSize=3', ['latest', 'v1']],
      ['pageNumber=2&pageSize=2', []],
      ['pageNumber=5&pageSize=1', []],
    ];
    for (const [q, tags] of cases) {
      const res = await server.fetch(`/docker/api/tag/demo/docker/app?${q}`);
      assert.equal(res.status, 200, q);
      assert.equal(res.headers.get('x-total-count'), '2', q);
      assert.deepEqual((await json<{ tag: string }[]>(res)).data.map((t) => t.tag), tags, q);
    }
  });

  it('lists tags with stage, size (config + layers), counts and who/when', async () => {
    const res = await server.fetch('/docker/api/tag/demo/docker/app');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-total-count'), '2');
    const body = await json<Record<string, unknown>[]>(res);
    const size = oci.config.size + oci.layers.reduce((a, l) => a + l.size, 0);
    assert.deepEqual(body.data.map((t) => t.tag), ['latest', 'v1']);
    for (const tag of body.data) {
      assert.deepEqual(Object.keys(tag).sort(), ['downloadCount', 'lastModifiedBy', 'lastModifiedDate', 'size', 'status', 'tag']);
      assert.equal(tag.status, '');
      assert.equal(tag.size, size);
      assert.equal(tag.lastModifiedBy, 'admin');
      assert.match(String(tag.lastModifiedDate), DATE);
    }
  });

  it('counts one download per manifest GET through /v2, not HEAD, not blobs, not the extension API', async () => {
    const before = await json<{ tag: string; downloadCount: number }[]>(await server.fetch('/docker/api/tag/demo/docker/app'));
    const start = before.data.find((t) => t.tag === 'v1')!.downloadCount;
    await server.fetch('/v2/demo/docker/app/manifests/v1').then((r) => r.arrayBuffer());
    await server.fetch('/v2/demo/docker/app/manifests/v1').then((r) => r.arrayBuffer());
    await server.fetch('/v2/demo/docker/app/manifests/v1', { method: 'HEAD' });
    await server.fetch(`/v2/demo/docker/app/blobs/${oci.layers[0]!.digest}`).then((r) => r.arrayBuffer());
    await server.fetch(`/v2/demo/docker/app/manifests/${ociDigest}`).then((r) => r.arrayBuffer());
    await server.fetch('/docker/api/manifest/demo/docker/app/v1').then((r) => r.arrayBuffer());
    const tags = await json<{ tag: string; downloadCount: number }[]>(await server.fetch('/docker/api/tag/demo/docker/app'));
    assert.equal(tags.data.find((t) => t.tag === 'v1')!.downloadCount, start + 2);
    assert.equal(tags.data.find((t) => t.tag === 'latest')!.downloadCount, 0);
    const images = await json<{ name: string; downloadCount: number }[]>(await server.fetch('/docker/api/repo/demo/docker'));
    assert.equal(images.data.find((i) => i.name === 'app')!.downloadCount, start + 3, 'image counts tag and digest pulls');
  });

  it('describes a tag: basic, history, metadata with labels, layers in manifest order', async () => {
    const res = await server.fetch('/docker/api/tag/detail/demo/docker/app?tag=v1');
    assert.equal(res.status, 200);
    const { data } = await json<{ basic: Record<string, unknown>; history: string[]; metadata: Record<string, string>; layers: { id: string; size: number }[] }>(res);
    assert.equal(data.basic.sha256, oci.config.digest.slice('sha256:'.length));
    assert.equal(data.basic.tag, 'v1');
    assert.equal(data.basic.os, 'linux');
    assert.equal(data.basic.size, oci.config.size + oci.layers.reduce((a, l) => a + l.size, 0));
    assert.equal(data.basic.lastModifiedBy, 'admin');
    assert.match(String(data.basic.lastModifiedDate), DATE);
    assert.deepEqual(data.history, oci.history);
    assert.equal(data.metadata.maintainer, 'team@example.com');
    assert.equal(data.metadata['docker.manifest.digest'], ociDigest);
    assert.equal(data.metadata['docker.manifest.type'], 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(data.metadata.architecture, 'amd64');
    assert.ok(data.metadata.created);
    assert.deepEqual(data.layers, oci.layers.map((l) => ({ id: l.digest.replace(':', '__'), size: l.size })));

    const docker = await json<{ metadata: Record<string, string> }>(await server.fetch('/docker/api/tag/detail/demo/docker/team/tool?tag=1.0'));
    assert.equal(docker.data.metadata['docker.manifest.digest'], dockerDigest);
    assert.equal(docker.data.metadata['docker.manifest.type'], 'application/vnd.docker.distribution.manifest.v2+json');

    const multi = await json<{ basic: { size: number }; layers: unknown[]; platforms: { architecture: string }[] }>(await server.fetch('/docker/api/tag/detail/demo/docker/multi?tag=v2'));
    assert.deepEqual(multi.data.platforms.map((p) => p.architecture), ['amd64', 'arm64']);
    assert.equal(multi.data.layers.length, index.children[0]!.layers.length);

    const missing = await server.fetch('/docker/api/tag/detail/demo/docker/app');
    assert.equal(missing.status, 400);
    const unknown = await server.fetch('/docker/api/tag/detail/demo/docker/app?tag=nope');
    assert.equal(unknown.status, 404);
  });

  it('moves stages only forward', async () => {
    const pre = await server.fetch('/docker/api/stage/demo/docker/app?tag=latest&stage=@prerelease', { method: 'POST' });
    assert.equal(pre.status, 200);
    const rel = await server.fetch('/docker/api/stage/demo/docker/app?tag=latest&stage=%40release', { method: 'POST' });
    assert.equal(rel.status, 200);
    const back = await server.fetch('/docker/api/stage/demo/docker/app?tag=latest&stage=@prerelease', { method: 'POST' });
    assert.equal(back.status, 400);
    assert.equal((await json(back)).code, 250105);
    const tags = await json<{ tag: string; status: string }[]>(await server.fetch('/docker/api/tag/demo/docker/app'));
    assert.equal(tags.data.find((t) => t.tag === 'latest')!.status, '@release');
  });

  it('needs credentials: 401 + 250114 without, 401 with a wrong password', async () => {
    const anon = await server.fetch('/docker/api/repo/demo/docker', { headers: { authorization: '' } });
    assert.equal(anon.status, 401);
    assert.equal((await json(anon)).code, 250114);
    const wrong = await server.fetch('/docker/api/repo/demo/docker', { headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    assert.equal((await json(wrong)).code, 250114);
  });

  it('deletes one tag, then a whole image, answering the remaining images', async () => {
    const delTag = await server.fetch('/docker/api/tag/demo/docker/app?tag=latest', { method: 'DELETE' });
    assert.equal(delTag.status, 200);
    assert.equal((await server.fetch('/v2/demo/docker/app/manifests/latest')).status, 404);
    const res = await server.fetch('/docker/api/repo/demo/docker/team/tool', { method: 'DELETE' });
    assert.equal(res.status, 200);
    const body = await json<{ name: string }[]>(res);
    assert.deepEqual(body.data.map((i) => i.name), ['app', 'multi']);
    assert.equal((await server.fetch('/v2/demo/docker/team/tool/manifests/1.0')).status, 404);
    const again = await server.fetch('/docker/api/repo/demo/docker/team/tool', { method: 'DELETE' });
    assert.equal(again.status, 404);
  });

  it('serves the registry address and an OpenAPI document', async () => {
    const addr = await json<string>(await server.fetch('/docker/api/addr'));
    assert.equal(addr.data, new URL(server.baseUrl).host);
    const doc = (await (await server.fetch('/docker/api/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(Object.keys(doc.paths).some((p) => p.startsWith('/docker/api/tag/detail')));
  });
});
