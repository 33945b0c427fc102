import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectOciError, pushImage, uniqueName } from '../support/oci-fixtures.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

async function tags(server: TestServer, name: string): Promise<string[]> {
  const res = await server.fetch(`/v2/${name}/tags/list`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] }).tags;
}

/** Mirrors the "Content Management" workflow of the OCI conformance suite (v1.1.1): deleting tags, manifests and blobs. */
describe('OCI content management workflow', () => {
  let server: TestServer;
  const name = uniqueName('management');
  let image: Awaited<ReturnType<typeof pushImage>>;
  let numTags = 0;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  describe('setup', () => {
    it('populates the registry with a config, a layer and a tagged manifest', async () => {
      image = await pushImage(server, name, 'tagtest0');
      const other = await server.fetch(`/v2/${name}/manifests/keep`, {
        method: 'PUT',
        headers: { 'content-type': image.manifest.mediaType },
        body: image.manifest.bytes,
      });
      assert.equal(other.status, 201);
      numTags = (await tags(server, name)).length;
      assert.equal(numTags, 2);
    });
  });

  describe('manifest delete', () => {
    it('DELETE by tag is 202 and removes only the tag', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/tagtest0`, { method: 'DELETE' });
      assert.equal(res.status, 202, await res.text());
      assert.deepEqual(await tags(server, name), ['keep']);
      const byDigest = await server.fetch(`/v2/${name}/manifests/${image.manifest.digest}`, { method: 'HEAD' });
      assert.equal(byDigest.status, 200, 'the manifest itself stays');
      await expectOciError(await server.fetch(`/v2/${name}/manifests/tagtest0`), 404, 'MANIFEST_UNKNOWN');
    });

    it('DELETE of an unknown tag is 404 MANIFEST_UNKNOWN', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/manifests/tagtest0`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    it('DELETE by digest is 202 and removes the manifest with its remaining tags', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/${image.manifest.digest}`, { method: 'DELETE' });
      const text = await res.text();
      assert.equal(res.status, 202, text);
      assert.equal(text, '');
    });

    it('GET of the deleted manifest is 404', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/manifests/${image.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
      await expectOciError(await server.fetch(`/v2/${name}/manifests/keep`), 404, 'MANIFEST_UNKNOWN');
    });

    it('the tag list reflects the deletion', async () => {
      const now = await tags(server, name);
      assert.ok(now.length < numTags);
      assert.deepEqual(now, []);
    });

    it('deleting it again is 404', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/manifests/${image.manifest.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('blob delete', () => {
    it('DELETE of the config and layer blobs is 202', async () => {
      for (const b of [image.config, image.layer]) {
        const res = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { method: 'DELETE' });
        assert.equal(res.status, 202, await res.text());
      }
    });

    it('GET and HEAD of a deleted blob are 404', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/blobs/${image.config.digest}`), 404, 'BLOB_UNKNOWN');
      const head = await server.fetch(`/v2/${name}/blobs/${image.layer.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 404);
    });

    it('DELETE of a blob already deleted is 404 BLOB_UNKNOWN', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/blobs/${image.config.digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    });

    it('a blob deleted from one repository stays readable in another that has it', async () => {
      const other = uniqueName('management-other');
      const again = await pushImage(server, other, 'v1');
      const third = uniqueName('management-third');
      const mount = await server.fetch(`/v2/${third}/blobs/uploads/?mount=${again.layer.digest}&from=${other}`, { method: 'POST' });
      assert.equal(mount.status, 201);
      const del = await server.fetch(`/v2/${other}/blobs/${again.layer.digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
      const get = await server.fetch(`/v2/${third}/blobs/${again.layer.digest}`);
      assert.equal(get.status, 200);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), again.layer.bytes);
    });
  });
});
