import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('push and pull one image through /v2', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('answers /v2/ for the admin and challenges anonymous callers', async () => {
    const ok = await server.fetch('/v2/');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('docker-distribution-api-version'), 'registry/2.0');
    const anon = await server.fetch('/v2/', { headers: { authorization: '' } });
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /realm=/);
  });

  it('pushes blobs and a manifest, then pulls them back byte-exact', async () => {
    const layer = Buffer.from('layer bytes');
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    for (const blob of [layer, config]) {
      const res = await server.fetch(`/v2/demo/docker/app/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
      assert.equal(res.status, 201, await res.text());
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    });
    const put = await server.fetch('/v2/demo/docker/app/manifests/v1', {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), sha256(manifest));
    const get = await server.fetch('/v2/demo/docker/app/manifests/v1');
    assert.equal(get.status, 200);
    assert.equal(await get.text(), manifest);
    assert.equal(get.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
    const blob = await server.fetch(`/v2/demo/docker/app/blobs/${sha256(layer)}`);
    assert.equal(Buffer.from(await blob.arrayBuffer()).toString(), 'layer bytes');
  });
});
