import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type Blob,
  configBlob,
  describe as descriptorOf,
  expectOciError,
  imageManifest,
  type Manifest,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  randomBlob,
  sha256,
  uniqueName,
} from '../support/oci-fixtures.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** Mirrors the "Pull" workflow of the OCI conformance suite (v1.1.1), with its setup and teardown. */
describe('OCI pull workflow', () => {
  let server: TestServer;
  const name = uniqueName('pull');
  const tag = 'tagtest0';
  const missingDigest = sha256('hello world');
  let configs: Blob[];
  let layer: Blob;
  let manifests: Manifest[];

  before(async () => {
    server = await startTestServer();
    configs = [configBlob(), configBlob()];
    layer = randomBlob(128);
    manifests = configs.map((c) => imageManifest({ config: descriptorOf(c, OCI_CONFIG), layers: [descriptorOf(layer, OCI_LAYER_GZIP)] }));
  });
  after(() => server.close());

  describe('setup', () => {
    it('populates the registry with two config blobs and a layer', async () => {
      for (const b of [...configs, layer]) await pushBlob(server, name, b);
    });

    it('populates the registry with a manifest by tag and one by digest', async () => {
      const byTag = await pushManifest(server, name, tag, manifests[0]!);
      assert.equal(byTag.headers.get('docker-content-digest'), manifests[0]!.digest);
      assert.ok(byTag.headers.get('location'));
      const byDigest = await pushManifest(server, name, manifests[1]!.digest, manifests[1]!);
      assert.equal(byDigest.headers.get('docker-content-digest'), manifests[1]!.digest);
      assert.equal(byDigest.headers.get('oci-subject'), null, 'no subject, no OCI-Subject header');
    });
  });

  describe('pull blobs', () => {
    it('HEAD of a nonexistent blob is 404', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/${missingDigest}`, { method: 'HEAD' });
      assert.equal(res.status, 404);
      assert.equal(await res.text(), '');
    });

    it('HEAD of an existing blob is 200 with its digest and length', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/${configs[0]!.digest}`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), configs[0]!.digest);
      assert.equal(res.headers.get('content-length'), String(configs[0]!.size));
      assert.equal(await res.text(), '');
    });

    it('GET of a nonexistent blob is 404 BLOB_UNKNOWN', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/blobs/${missingDigest}`), 404, 'BLOB_UNKNOWN');
    });

    it('GET of an existing blob is 200 with the exact bytes', async () => {
      const res = await server.fetch(`/v2/${name}/blobs/${configs[0]!.digest}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), configs[0]!.digest);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), configs[0]!.bytes);
    });
  });

  describe('pull manifests', () => {
    it('HEAD of a nonexistent manifest is 404', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/.INVALID_MANIFEST_NAME`, { method: 'HEAD' });
      assert.equal(res.status, 404);
      assert.equal(await res.text(), '');
    });

    for (const i of [0, 1]) {
      it(`HEAD of manifest[${i}] by digest is 200 with Docker-Content-Digest and no body`, async () => {
        const m = manifests[i]!;
        const res = await server.fetch(`/v2/${name}/manifests/${m.digest}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('docker-content-digest'), m.digest);
        assert.equal(res.headers.get('content-length'), String(m.bytes.length));
        assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
        assert.equal(await res.text(), '');
      });
    }

    it('HEAD of the manifest by tag is 200 with the tagged digest', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/${tag}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), manifests[0]!.digest);
    });

    it('GET of a nonexistent manifest is 404 MANIFEST_UNKNOWN', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/manifests/.INVALID_MANIFEST_NAME`), 404, 'MANIFEST_UNKNOWN');
      await expectOciError(await server.fetch(`/v2/${name}/manifests/nosuchtag`), 404, 'MANIFEST_UNKNOWN');
      await expectOciError(await server.fetch(`/v2/${name}/manifests/${missingDigest}`), 404, 'MANIFEST_UNKNOWN');
    });

    for (const i of [0, 1]) {
      it(`GET of manifest[${i}] by digest is 200 with the bytes as pushed`, async () => {
        const m = manifests[i]!;
        const res = await server.fetch(`/v2/${name}/manifests/${m.digest}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
        assert.equal(res.headers.get('docker-content-digest'), m.digest);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), m.bytes);
      });
    }

    it('GET of the manifest by tag is 200', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), manifests[0]!.bytes);
    });

    it('GET in a repository that was never pushed is 404 NAME_UNKNOWN', async () => {
      await expectOciError(await server.fetch(`/v2/demo/docker/never-pushed/manifests/${tag}`), 404, 'NAME_UNKNOWN');
    });
  });

  describe('error codes', () => {
    it('a 400 carries an OCI error body with a code from the spec', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/sha256:totallywrong`, {
        headers: { 'content-type': OCI_MANIFEST },
      });
      const body = await expectOciError(res, 400, 'DIGEST_INVALID');
      assert.ok('detail' in body.errors[0]!);
    });
  });

  describe('teardown', () => {
    it('deletes the manifests (each is then 404), then the blobs', async () => {
      const refs = [tag, manifests[0]!.digest, manifests[1]!.digest];
      for (const ref of refs.reverse()) {
        const get = await server.fetch(`/v2/${name}/manifests/${ref}`);
        await get.arrayBuffer();
        if (get.status !== 200) continue;
        const del = await server.fetch(`/v2/${name}/manifests/${ref}`, { method: 'DELETE' });
        assert.equal(del.status, 202, await del.text());
        const gone = await server.fetch(`/v2/${name}/manifests/${ref}`);
        assert.equal(gone.status, 404, await gone.text());
      }
      for (const b of [...configs, layer]) {
        const del = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { method: 'DELETE' });
        assert.equal(del.status, 202, await del.text());
      }
    });
  });
});
