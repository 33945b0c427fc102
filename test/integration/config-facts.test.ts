import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuiltImage, buildImage } from '../support/oci-image-builder.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/**
 * A manifest PUT shows facts from its image config (os, architecture, labels). A config pushed
 * just before is handed over by the upload, so the PUT reads no file; these tests check the facts
 * come out the same whichever way the config arrived, and that the hand-over is what is used.
 */
describe('image facts from the config pushed with the image', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  async function putBlobMonolithic(name: string, bytes: Buffer, digest: string): Promise<void> {
    const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
    assert.equal(res.status, 201, await res.text());
  }

  async function putBlobInChunks(name: string, bytes: Buffer, digest: string): Promise<void> {
    const start = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    let location = start.headers.get('location')!;
    const half = Math.floor(bytes.length / 2);
    for (const [from, to] of [[0, half], [half, bytes.length]] as const) {
      const res = await server.fetch(location, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` },
        body: bytes.subarray(from, to),
      });
      assert.equal(res.status, 202, await res.text());
      location = res.headers.get('location')!;
    }
    const done = await server.fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
  }

  async function putManifest(name: string, tag: string, image: BuiltImage): Promise<void> {
    const res = await server.fetch(`/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': image.mediaType }, body: image.manifest });
    assert.equal(res.status, 201, await res.text());
  }

  /** The tag's metadata (labels, architecture) with its os. */
  async function facts(name: string, tag: string): Promise<Record<string, string>> {
    const res = await server.fetch(`/docker/api/tag/detail/${name}?tag=${tag}`);
    assert.equal(res.status, 200);
    const { data } = (await res.json()) as { data: { basic: { os: string }; metadata: Record<string, string> } };
    return { ...data.metadata, os: data.basic.os };
  }

  it('are the same for a config pushed in one request and in chunks', async () => {
    const oneShot = buildImage({ seed: 'one-shot', architecture: 'arm64', labels: { team: 'a' } });
    const chunked = buildImage({ seed: 'chunked', architecture: 's390x', labels: { team: 'b' } });
    for (const [repo, image, push] of [['one', oneShot, putBlobMonolithic], ['chunked', chunked, putBlobInChunks]] as const) {
      const name = `facts/docker/${repo}`;
      for (const layer of image.layers) await putBlobMonolithic(name, layer.bytes, layer.digest);
      await push(name, image.config.bytes, image.config.digest);
      await putManifest(name, 'v1', image);
      const metadata = await facts(name, 'v1');
      assert.equal(metadata.architecture, image.platform.architecture, repo);
      assert.equal(metadata.os, 'linux', repo);
      assert.equal(metadata.team, image.labels.team, repo);
    }
  });

  it('come from the pushed bytes: the PUT does not need the config file', async () => {
    const image = buildImage({ seed: 'handed-over', architecture: 'riscv64', labels: { team: 'c' } });
    const name = 'facts/docker/handed';
    for (const layer of image.layers) await putBlobMonolithic(name, layer.bytes, layer.digest);
    await putBlobMonolithic(name, image.config.bytes, image.config.digest);
    const hex = image.config.digest.slice('sha256:'.length);
    await rm(join(server.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex));
    await putManifest(name, 'v1', image);
    const metadata = await facts(name, 'v1');
    assert.equal(metadata.architecture, 'riscv64');
    assert.equal(metadata.team, 'c');
  });

  it('never come from bytes whose digest did not match', async () => {
    const image = buildImage({ seed: 'mismatch', architecture: 'mips64le' });
    const name = 'facts/docker/mismatch';
    const forged = Buffer.from(image.config.bytes.toString().replace('mips64le', 'ppc64le'));
    const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${image.config.digest}`, { method: 'POST', body: forged });
    assert.equal(res.status, 400);
    for (const layer of image.layers) await putBlobMonolithic(name, layer.bytes, layer.digest);
    await putBlobMonolithic(name, image.config.bytes, image.config.digest);
    await putManifest(name, 'v1', image);
    assert.equal((await facts(name, 'v1')).architecture, 'mips64le');
  });
});
