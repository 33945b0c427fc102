import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  blob,
  configBlob,
  describe as descriptorOf,
  EMPTY_JSON,
  expectOciError,
  imageIndex,
  imageManifest,
  type Manifest,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  pushBlob,
  pushManifest,
  randomBlob,
  sha256,
  uniqueName,
} from '../support/oci-fixtures.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }[];
}

const KEY = 'org.opencontainers.conformance.test';
const TYPE_A = 'application/vnd.nhl.peanut.butter.bagel';
const TYPE_B = 'application/vnd.nba.strawberry.jam.croissant';
const TYPE_INDEX = 'application/vnd.food.stand';

async function tagList(server: TestServer, path: string): Promise<{ tags: string[]; link: string | null }> {
  const res = await server.fetch(path);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const body = JSON.parse(text) as { name: string; tags: string[] };
  return { tags: body.tags, link: res.headers.get('link') };
}

/** Mirrors the "Content Discovery" workflow of the OCI conformance suite (v1.1.1): tag lists and referrers. */
describe('OCI content discovery workflow', () => {
  let server: TestServer;
  const name = uniqueName('discovery');
  const layer = randomBlob(80);
  const config2 = configBlob();
  const config4 = configBlob();
  const config3 = configBlob();
  const refBlobA = blob('NHL Peanut Butter on my NHL bagel');
  const refBlobB = blob('NBA Strawberry Jam on my NBA croissant');
  const m2 = imageManifest({ config: descriptorOf(config2, OCI_CONFIG), layers: [descriptorOf(layer, OCI_LAYER_GZIP)] });
  const m3 = imageManifest({ config: descriptorOf(config3, OCI_CONFIG), layers: [descriptorOf(layer, OCI_LAYER_GZIP)] });
  const m4 = imageManifest({ config: descriptorOf(config4, OCI_CONFIG), layers: [descriptorOf(layer, OCI_LAYER_GZIP)] });
  const expected = new Map<string, string>();
  const configArtifact = (b: typeof refBlobA, type: string, note: string, subject: Manifest): Manifest => {
    const m = imageManifest({ config: descriptorOf(b, type), layers: [descriptorOf(EMPTY_JSON, OCI_EMPTY)], subject: subject.descriptor, annotations: { [KEY]: note } });
    expected.set(m.digest, note);
    return m;
  };
  const layerArtifact = (b: typeof refBlobA, type: string, note: string | undefined, subject: Manifest): Manifest => {
    const m = imageManifest({
      artifactType: type,
      config: descriptorOf(EMPTY_JSON, OCI_EMPTY),
      layers: [descriptorOf(b, type)],
      subject: subject.descriptor,
      ...(note ? { annotations: { [KEY]: note } } : {}),
    });
    if (note) expected.set(m.digest, note);
    return m;
  };
  const aConfig = configArtifact(refBlobA, TYPE_A, 'test config a', m4);
  const aLayer = layerArtifact(refBlobA, TYPE_A, 'test layer a', m4);
  const bConfig = configArtifact(refBlobB, TYPE_B, 'test config b', m4);
  const bLayer = layerArtifact(refBlobB, TYPE_B, 'test layer b', m4);
  const cLayer = layerArtifact(refBlobB, TYPE_B, undefined, m3);
  const refIndex = imageIndex({ artifactType: TYPE_INDEX, manifests: [aConfig.descriptor, aLayer.descriptor], subject: m4.descriptor, annotations: { [KEY]: 'test index' } });
  expected.set(refIndex.digest, 'test index');
  let numTags = 0;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  describe('setup', () => {
    it('populates the registry with a blob, a layer and four tags', async () => {
      await pushBlob(server, name, config2);
      await pushBlob(server, name, layer);
      for (let i = 0; i < 4; i++) await pushManifest(server, name, `test${i}`, m2);
    });

    it('pushes referrers before and after their subject, each answered with OCI-Subject', async () => {
      await pushBlob(server, name, EMPTY_JSON);
      await pushBlob(server, name, refBlobA);
      for (const m of [aConfig, aLayer, refIndex]) {
        const res = await pushManifest(server, name, m.digest, m);
        assert.equal(res.headers.get('oci-subject'), m4.digest);
      }
      await pushBlob(server, name, config4);
      await pushManifest(server, name, 'tagtest0', m4);
      await pushBlob(server, name, refBlobB);
      for (const m of [bConfig, bLayer]) {
        const res = await pushManifest(server, name, m.digest, m);
        assert.equal(res.headers.get('oci-subject'), m4.digest);
      }
      const dangling = await pushManifest(server, name, cLayer.digest, cLayer);
      assert.equal(dangling.headers.get('oci-subject'), m3.digest);
    });
  });

  describe('listing tags', () => {
    it('GET tags/list is 200 with every tag, sorted', async () => {
      const { tags, link } = await tagList(server, `/v2/${name}/tags/list`);
      assert.deepEqual(tags, ['tagtest0', 'test0', 'test1', 'test2', 'test3']);
      assert.equal(link, null);
      numTags = tags.length;
    });

    it('`n` limits the number of tags, with a Link to the next page', async () => {
      const n = Math.floor(numTags / 2);
      const { tags, link } = await tagList(server, `/v2/${name}/tags/list?n=${n}`);
      assert.equal(tags.length, n);
      assert.deepEqual(tags, ['tagtest0', 'test0']);
      assert.equal(link, `</v2/${name}/tags/list?n=${n}&last=test0>; rel="next"`);
    });

    it('`last` starts the list after the given tag', async () => {
      const n = Math.floor(numTags / 2);
      const first = await tagList(server, `/v2/${name}/tags/list?n=${n}`);
      const last = first.tags[n - 1]!;
      const { tags } = await tagList(server, `/v2/${name}/tags/list?n=${n}&last=${last}`);
      assert.ok(tags.length <= n);
      assert.ok(!tags.includes(last));
      assert.deepEqual(tags, ['test1', 'test2']);
    });

    it('following Link headers walks every tag exactly once', async () => {
      const seen: string[] = [];
      let path: string | undefined = `/v2/${name}/tags/list?n=2`;
      while (path) {
        const page = await tagList(server, path);
        seen.push(...page.tags);
        path = page.link ? /^<([^>]+)>; rel="next"$/.exec(page.link)![1] : undefined;
      }
      assert.deepEqual(seen, ['tagtest0', 'test0', 'test1', 'test2', 'test3']);
    });

    it('n=0 is an empty list without a Link; a bad n is a 400', async () => {
      const { tags, link } = await tagList(server, `/v2/${name}/tags/list?n=0`);
      assert.deepEqual(tags, []);
      assert.equal(link, null);
      const bad = await server.fetch(`/v2/${name}/tags/list?n=abc`);
      assert.equal(bad.status, 400);
      await bad.arrayBuffer();
    });

    it('tags of a repository never pushed are 404 NAME_UNKNOWN', async () => {
      await expectOciError(await server.fetch('/v2/demo/docker/never-pushed/tags/list'), 404, 'NAME_UNKNOWN');
    });
  });

  describe('listing referrers', () => {
    async function referrers(path: string): Promise<{ index: Index; res: Response }> {
      const res = await server.fetch(path);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal(res.headers.get('content-type'), OCI_INDEX);
      return { index: JSON.parse(text) as Index, res };
    }

    it('an unknown subject has an empty index (200)', async () => {
      const { index } = await referrers(`/v2/${name}/referrers/${sha256('hello world')}`);
      assert.equal(index.schemaVersion, 2);
      assert.equal(index.mediaType, OCI_INDEX);
      assert.deepEqual(index.manifests, []);
    });

    it('a repository never pushed also has an empty referrers index', async () => {
      const { index } = await referrers(`/v2/demo/docker/never-pushed/referrers/${m4.digest}`);
      assert.deepEqual(index.manifests, []);
    });

    it('lists every referrer of a subject with artifactType and annotations', async () => {
      const { index, res } = await referrers(`/v2/${name}/referrers/${m4.digest}`);
      assert.equal(res.headers.get('oci-filters-applied'), null);
      assert.equal(index.manifests.length, 5);
      assert.equal(new Set(index.manifests.map((d) => d.digest)).size, 5);
      for (const d of index.manifests) {
        assert.equal(Object.keys(d.annotations ?? {}).length, 1, d.digest);
        assert.equal(d.annotations![KEY], expected.get(d.digest));
      }
      const byDigest = new Map(index.manifests.map((d) => [d.digest, d]));
      assert.equal(byDigest.get(aConfig.digest)!.artifactType, TYPE_A, 'config media type stands in for artifactType');
      assert.equal(byDigest.get(aLayer.digest)!.artifactType, TYPE_A);
      assert.equal(byDigest.get(refIndex.digest)!.artifactType, TYPE_INDEX);
      assert.equal(byDigest.get(refIndex.digest)!.mediaType, OCI_INDEX);
      assert.equal(byDigest.get(bLayer.digest)!.size, bLayer.bytes.length);
    });

    it('filters by artifactType and says so in OCI-Filters-Applied', async () => {
      const { index, res } = await referrers(`/v2/${name}/referrers/${m4.digest}?artifactType=${encodeURIComponent(TYPE_A)}`);
      assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(index.manifests.map((d) => d.digest).sort(), [aConfig.digest, aLayer.digest].sort());
      for (const d of index.manifests) assert.equal(d.annotations![KEY], expected.get(d.digest));
    });

    it('an empty artifactType filter filters nothing and is not reported as applied', async () => {
      const { index, res } = await referrers(`/v2/${name}/referrers/${m4.digest}?artifactType=`);
      assert.equal(res.headers.get('oci-filters-applied'), null);
      assert.equal(index.manifests.length, 5);
    });

    it('a subject that was never pushed still lists its referrer', async () => {
      const { index } = await referrers(`/v2/${name}/referrers/${m3.digest}`);
      assert.deepEqual(index.manifests.map((d) => d.digest), [cLayer.digest]);
    });

    it('a deleted referrer disappears from the list', async () => {
      const del = await server.fetch(`/v2/${name}/manifests/${bLayer.digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      const { index } = await referrers(`/v2/${name}/referrers/${m4.digest}`);
      assert.equal(index.manifests.length, 4);
      assert.ok(!index.manifests.some((d) => d.digest === bLayer.digest));
    });

    it('a malformed subject digest is 400 DIGEST_INVALID', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/referrers/sha256:nothex`), 400, 'DIGEST_INVALID');
    });
  });

  describe('catalog', () => {
    it('lists repositories in order, paged with n, last and Link', async () => {
      const names = [uniqueName('cat-a'), uniqueName('cat-b'), uniqueName('cat-c')];
      for (const n of names) await pushBlob(server, n, EMPTY_JSON);
      const all = await server.fetch('/v2/_catalog');
      const { repositories } = (await all.json()) as { repositories: string[] };
      assert.deepEqual(repositories, [...repositories].sort());
      for (const n of [...names, name]) assert.ok(repositories.includes(n), n);

      const first = await server.fetch('/v2/_catalog?n=1');
      const page1 = (await first.json()) as { repositories: string[] };
      assert.deepEqual(page1.repositories, [repositories[0]]);
      assert.equal(first.headers.get('link'), `</v2/_catalog?n=1&last=${encodeURIComponent(repositories[0]!)}>; rel="next"`);

      const second = await server.fetch(`/v2/_catalog?n=2&last=${encodeURIComponent(repositories[0]!)}`);
      const page2 = (await second.json()) as { repositories: string[] };
      assert.deepEqual(page2.repositories, repositories.slice(1, 3));

      const tail = await server.fetch(`/v2/_catalog?n=100&last=${encodeURIComponent(repositories[repositories.length - 1]!)}`);
      assert.deepEqual(((await tail.json()) as { repositories: string[] }).repositories, []);
      assert.equal(tail.headers.get('link'), null);
    });
  });

  describe('teardown', () => {
    it('deletes manifests (202 or already gone) and blobs', async () => {
      for (const m of [refIndex, m2, m4, aConfig, aLayer, bConfig, bLayer, cLayer]) {
        const res = await server.fetch(`/v2/${name}/manifests/${m.digest}`, { method: 'DELETE' });
        assert.ok(res.status === 202 || res.status === 404, `${res.status}`);
        await res.arrayBuffer();
      }
      const tags = await tagList(server, `/v2/${name}/tags/list`);
      assert.deepEqual(tags.tags, []);
      for (const b of [config2, config4, layer, refBlobA, refBlobB, EMPTY_JSON]) {
        const res = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { method: 'DELETE' });
        assert.equal(res.status, 202, await res.text());
      }
    });
  });
});
