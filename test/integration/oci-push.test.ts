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
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  randomBlob,
  relative,
  sha256,
  uniqueName,
  withQuery,
} from '../support/oci-fixtures.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const OCTET = { 'content-type': 'application/octet-stream' };

/** Mirrors the "Push" workflow of the OCI conformance suite (v1.1.1), in its order. */
describe('OCI push workflow', () => {
  let server: TestServer;
  const name = uniqueName('push');
  const crossmount = uniqueName('crossmount');
  const blobA = randomBlob(42);
  const blobB = randomBlob(42);
  const chunk1 = blobB.bytes.subarray(0, 22);
  const chunk2 = blobB.bytes.subarray(22);
  const chunk1Range = `0-${chunk1.length - 1}`;
  const chunk2Range = `${chunk1.length}-${blobB.size - 1}`;
  const refBlobA = blob('peanut butter on a bagel');
  const configs = [configBlob(), configBlob()];
  const layer = randomBlob(100);
  const manifests = configs.map((c) => imageManifest({ config: descriptorOf(c, OCI_CONFIG), layers: [descriptorOf(layer, OCI_LAYER_GZIP)] }));
  let location = '';
  let firstChunkLocation = '';

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  describe('setup', () => {
    it('uploads the empty JSON blob and a reference blob', async () => {
      assert.equal(EMPTY_JSON.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
      await pushBlob(server, name, EMPTY_JSON);
      await pushBlob(server, name, refBlobA);
    });
  });

  describe('blob upload streamed', () => {
    it('PATCH with the blob in the body is 202', async () => {
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const loc = post.headers.get('location');
      assert.ok(loc);
      const patch = await server.fetch(relative(loc), { method: 'PATCH', headers: OCTET, body: blobA.bytes });
      assert.equal(patch.status, 202, await patch.text());
      assert.equal(patch.headers.get('range'), `0-${blobA.size - 1}`);
      location = patch.headers.get('location') ?? '';
      assert.ok(location);
    });

    it('PUT to the session URL with the digest and no body is 201 with a Location', async () => {
      const put = await server.fetch(withQuery(relative(location), { digest: blobA.digest }), {
        method: 'PUT',
        headers: { ...OCTET, 'content-length': '0' },
      });
      assert.equal(put.status, 201, await put.text());
      assert.equal(relative(put.headers.get('location') ?? ''), `/v2/${name}/blobs/${blobA.digest}`);
      assert.equal(put.headers.get('docker-content-digest'), blobA.digest);
    });
  });

  describe('blob upload monolithic', () => {
    it('GET of a nonexistent blob is 404', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/blobs/${sha256('hello world')}`), 404, 'BLOB_UNKNOWN');
    });

    it('POST with digest and blob is 201 with a Location', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${configs[1]!.digest}`, {
        method: 'POST',
        headers: { ...OCTET, 'content-length': String(configs[1]!.size) },
        body: configs[1]!.bytes,
      });
      assert.equal(res.status, 201, await res.text());
      assert.ok(res.headers.get('location'));
    });

    it('GET of the blob from the prior request is 200', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/${configs[1]!.digest}`);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), configs[1]!.bytes);
    });

    it('POST yields a session (202, Location, Range)', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 202);
      location = res.headers.get('location') ?? '';
      assert.match(relative(location), new RegExp(`^/v2/${name}/blobs/uploads/`));
      assert.ok(res.headers.get('range'));
    });

    it('PUT of the whole blob to the session is 201', async () => {
      const res = await server.fetch(withQuery(relative(location), { digest: configs[0]!.digest }), {
        method: 'PUT',
        headers: { ...OCTET, 'content-length': String(configs[0]!.size) },
        body: configs[0]!.bytes,
      });
      assert.equal(res.status, 201, await res.text());
      assert.ok(res.headers.get('location'));
    });

    it('GET of the existing blob is 200', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/${configs[0]!.digest}`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    });

    it('PUT upload of a layer blob is 201 and GET of it is 200', async () => {
      await pushBlob(server, name, layer);
      const res = await server.fetch(`/v2/${name}/blobs/${layer.digest}`);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), layer.bytes);
    });
  });

  describe('blob upload chunked', () => {
    it('an out-of-order chunk is 416', async () => {
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
      const loc = relative(post.headers.get('location') ?? '');
      const res = await server.fetch(loc, {
        method: 'PATCH',
        headers: { ...OCTET, 'content-length': String(chunk2.length), 'content-range': chunk2Range },
        body: chunk2,
      });
      assert.equal(res.status, 416, await res.text());
      assert.equal(res.headers.get('range'), '0-0');
      assert.equal(relative(res.headers.get('location') ?? ''), loc);
    });

    it('PATCH with the first chunk is 202 with Range of the bytes received', async () => {
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
      firstChunkLocation = relative(post.headers.get('location') ?? '');
      const res = await server.fetch(firstChunkLocation, {
        method: 'PATCH',
        headers: { ...OCTET, 'content-length': String(chunk1.length), 'content-range': chunk1Range },
        body: chunk1,
      });
      assert.equal(res.status, 202, await res.text());
      assert.equal(res.headers.get('range'), chunk1Range);
      location = relative(res.headers.get('location') ?? '');
    });

    it('retrying the previous chunk is 416 with the current Range', async () => {
      const res = await server.fetch(firstChunkLocation, {
        method: 'PATCH',
        headers: { ...OCTET, 'content-length': String(chunk1.length), 'content-range': chunk1Range },
        body: chunk1,
      });
      assert.equal(res.status, 416, await res.text());
      assert.equal(res.headers.get('range'), chunk1Range);
    });

    it('GET on the upload is 204 with Range and Location', async () => {
      const res = await server.fetch(firstChunkLocation);
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('range'), chunk1Range);
      assert.ok(res.headers.get('location'));
      location = relative(res.headers.get('location') ?? '');
    });

    it('PATCH with the second chunk is 202 with Range covering the whole blob', async () => {
      const res = await server.fetch(location, {
        method: 'PATCH',
        headers: { ...OCTET, 'content-length': String(chunk2.length), 'content-range': chunk2Range },
        body: chunk2,
      });
      assert.equal(res.status, 202, await res.text());
      assert.equal(res.headers.get('range'), `0-${blobB.size - 1}`);
      location = relative(res.headers.get('location') ?? '');
      assert.ok(location);
    });

    it('PUT with the digest and no body is 201', async () => {
      const res = await server.fetch(withQuery(location, { digest: blobB.digest }), {
        method: 'PUT',
        headers: { ...OCTET, 'content-length': '0' },
      });
      assert.equal(res.status, 201, await res.text());
      assert.ok(res.headers.get('location'));
      const get = await server.fetch(`/v2/${name}/blobs/${blobB.digest}`);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), blobB.bytes);
    });

    it('PUT may carry the final chunk with its Content-Range', async () => {
      const b = randomBlob(30);
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(post.headers.get('location') ?? '');
      const patch = await server.fetch(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '0-9' }, body: b.bytes.subarray(0, 10) });
      assert.equal(patch.status, 202, await patch.text());
      const put = await server.fetch(withQuery(relative(patch.headers.get('location') ?? ''), { digest: b.digest }), {
        method: 'PUT',
        headers: { ...OCTET, 'content-range': '10-29' },
        body: b.bytes.subarray(10),
      });
      assert.equal(put.status, 201, await put.text());
    });
  });

  describe('cross-repository blob mount', () => {
    let mountResponse: Response;

    it('mount without `from` yields a session (202)', async () => {
      const res = await server.fetch(`/v2/${crossmount}/blobs/uploads/?mount=${sha256('hello world')}`, { method: 'POST' });
      assert.equal(res.status, 202, await res.text());
      assert.match(relative(res.headers.get('location') ?? ''), new RegExp(`^/v2/${crossmount}/blobs/uploads/`));
    });

    it("mounting another repository's blob is 201 with the blob's Location", async () => {
      mountResponse = await server.fetch(`/v2/${crossmount}/blobs/uploads/?mount=${blobA.digest}&from=${name}`, { method: 'POST' });
      assert.equal(mountResponse.status, 201, await mountResponse.text());
      assert.equal(relative(mountResponse.headers.get('location') ?? ''), `/v2/${crossmount}/blobs/${blobA.digest}`);
      assert.equal(mountResponse.headers.get('docker-content-digest'), blobA.digest);
    });

    it('GET of the mounted blob in the target repository is 200', async () => {
      const res = await server.fetch(relative(mountResponse.headers.get('location') ?? ''));
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), blobA.bytes);
    });

    it('mounting a blob the source does not have falls back to an upload session (202)', async () => {
      const res = await server.fetch(`/v2/${crossmount}/blobs/uploads/?mount=${sha256('not there')}&from=${name}`, { method: 'POST' });
      assert.equal(res.status, 202, await res.text());
      assert.match(relative(res.headers.get('location') ?? ''), new RegExp(`^/v2/${crossmount}/blobs/uploads/`));
    });
  });

  describe('manifest upload', () => {
    const refArtifactType = 'application/vnd.example.peanut.butter';
    let configTypeManifest: Manifest;
    let artifactTypeManifest: Manifest;
    let index: Manifest;

    it('GET of a nonexistent manifest is 404', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/manifests/.INVALID_MANIFEST_NAME`), 404, 'MANIFEST_UNKNOWN');
    });

    it('PUT accepts a manifest upload under four tags (201 with Location)', async () => {
      for (let i = 0; i < 4; i++) {
        const res = await pushManifest(server, name, `test${i}`, manifests[1]!);
        assert.equal(relative(res.headers.get('location') ?? ''), `/v2/${name}/manifests/${manifests[1]!.digest}`);
      }
    });

    it('accepts an image manifest with no layers and no mediaType field', async () => {
      const m = imageManifest({ config: descriptorOf(configs[1]!, OCI_CONFIG), mediaType: null });
      await pushManifest(server, name, 'emptylayer', m);
    });

    it('GET of the manifest by digest is 200', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/${manifests[1]!.digest}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), manifests[1]!.bytes);
    });

    it('accepts a manifest whose config media type is the artifact type', async () => {
      configTypeManifest = imageManifest({ config: descriptorOf(refBlobA, refArtifactType), layers: [descriptorOf(EMPTY_JSON, OCI_EMPTY)] });
      await pushManifest(server, name, configTypeManifest.digest, configTypeManifest);
    });

    it('accepts a manifest with an artifactType and the empty config', async () => {
      artifactTypeManifest = imageManifest({
        artifactType: refArtifactType,
        config: descriptorOf(EMPTY_JSON, OCI_EMPTY),
        layers: [descriptorOf(refBlobA, refArtifactType)],
      });
      await pushManifest(server, name, artifactTypeManifest.digest, artifactTypeManifest);
    });

    it('accepts an image index whose child was pushed before', async () => {
      await pushManifest(server, name, 'tagtest0', manifests[0]!);
      index = imageIndex({ artifactType: 'application/vnd.food.stand', manifests: [manifests[0]!.descriptor], annotations: { 'org.example.test': 'index' } });
      await pushManifest(server, name, index.digest, index);
    });

    it('accepts a nested image index', async () => {
      const nested = imageIndex({ artifactType: 'application/vnd.food.stand', manifests: [index.descriptor] });
      await pushManifest(server, name, nested.digest, nested);
      const res = await server.fetch(`/v2/${name}/manifests/${nested.digest}`);
      assert.equal(res.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), nested.bytes);
    });

    it('accepts a manifest whose subject does not exist, answering OCI-Subject', async () => {
      const missingSubject = imageManifest({ config: descriptorOf(configBlob(), OCI_CONFIG) });
      const dangling = imageManifest({
        artifactType: refArtifactType,
        config: descriptorOf(EMPTY_JSON, OCI_EMPTY),
        layers: [descriptorOf(refBlobA, refArtifactType)],
        subject: missingSubject.descriptor,
      });
      const res = await pushManifest(server, name, dangling.digest, dangling);
      assert.equal(res.headers.get('oci-subject'), missingSubject.digest);
    });
  });

  describe('teardown', () => {
    it('deletes the manifests and blobs it created', async () => {
      for (const digest of [manifests[1]!.digest, manifests[0]!.digest]) {
        const res = await server.fetch(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' });
        assert.equal(res.status, 202, await res.text());
      }
      for (const b of [configs[1]!, layer, EMPTY_JSON]) {
        const res = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { method: 'DELETE' });
        assert.equal(res.status, 202, await res.text());
      }
      const again = await server.fetch(`/v2/${name}/blobs/${layer.digest}`, { method: 'DELETE' });
      await expectOciError(again, 404, 'BLOB_UNKNOWN');
    });
  });
});
