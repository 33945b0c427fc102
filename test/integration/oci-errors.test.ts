import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  blob,
  configBlob,
  describe as descriptorOf,
  expectOciError,
  imageIndex,
  imageManifest,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  relative,
  sha256,
  uniqueName,
  withQuery,
} from '../support/oci-fixtures.ts';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';

const ANONYMOUS = { authorization: '' };

/** Sends one raw HTTP/1.1 request (no client-side path normalisation) and returns head and body as received. */
function rawRequest(server: TestServer, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string; body: Buffer }> {
  const { hostname, port } = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, split).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head, body: all.subarray(split + 4) });
    });
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close', `Authorization: ${server.authorization}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir, { recursive: true });
  } catch {
    return [];
  }
}

/** The spec's error paths, one by one, each with its status, code and headers. */
describe('OCI error paths', () => {
  let server: TestServer;
  const name = uniqueName('errors');

  before(async () => {
    server = await startTestServer();
    await pushImage(server, name, 'v1');
  });
  after(() => server.close());

  describe('authentication', () => {
    it('anonymous requests are 401 UNAUTHORIZED with a WWW-Authenticate challenge', async () => {
      for (const [method, path] of [
        ['GET', '/v2/'],
        ['GET', `/v2/${name}/tags/list`],
        ['GET', `/v2/${name}/manifests/v1`],
        ['POST', `/v2/${name}/blobs/uploads/`],
        ['GET', '/v2/_catalog'],
      ] as const) {
        const res = await server.fetch(path, { method, headers: ANONYMOUS });
        await expectOciError(res, 401, 'UNAUTHORIZED');
        assert.match(res.headers.get('www-authenticate') ?? '', /^(Basic|Bearer) .*realm="[^"]+"/, `${method} ${path}`);
      }
    });

    it('a HEAD answered 401 carries the challenge and no body', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/v1`, { method: 'HEAD', headers: ANONYMOUS });
      assert.equal(res.status, 401);
      assert.ok(res.headers.get('www-authenticate'));
      assert.equal(await res.text(), '');
    });

    it('wrong credentials are 401, never treated as anonymous', async () => {
      const res = await server.fetch('/v2/', { headers: { authorization: basic('admin', 'wrong-password') } });
      await expectOciError(res, 401, 'UNAUTHORIZED');
      assert.ok(res.headers.get('www-authenticate'));
    });

    it('the anonymous attempt leaves no trace, and the retry with credentials succeeds', async () => {
      const b = randomBlob(20);
      const anon = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', headers: ANONYMOUS, body: b.bytes });
      assert.equal(anon.status, 401);
      await anon.arrayBuffer();
      const head = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 404);
      const retry = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.bytes });
      assert.equal(retry.status, 201, await retry.text());
    });
  });

  describe('a client that authenticates only when challenged (as the conformance suite does)', () => {
    /** Sends anonymously; on 401 follows the challenge: Basic retries with credentials, Bearer fetches a token first. */
    async function challenged(path: string, init: RequestInit = {}): Promise<Response> {
      const first = await server.fetch(path, { ...init, headers: { ...(init.headers as Record<string, string>), ...ANONYMOUS } });
      if (first.status !== 401) return first;
      await first.arrayBuffer();
      const header = first.headers.get('www-authenticate') ?? '';
      let authorization = server.authorization;
      if (/^bearer /i.test(header)) {
        const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
        const url = new URL(params.realm!, server.baseUrl);
        if (params.service) url.searchParams.set('service', params.service);
        if (params.scope) url.searchParams.set('scope', params.scope);
        const tokenRes = await fetch(url, { headers: { authorization: server.authorization } });
        assert.equal(tokenRes.status, 200, `token endpoint ${url}`);
        const token = (await tokenRes.json()) as { token?: string; access_token?: string };
        authorization = `Bearer ${token.token ?? token.access_token}`;
      } else {
        assert.match(header, /^basic /i);
      }
      return server.fetch(path, { ...init, headers: { ...(init.headers as Record<string, string>), authorization } });
    }

    it('pushes and pulls a blob and a manifest, every request challenged first', async () => {
      const repo = uniqueName('challenged');
      const config = configBlob();
      const post = await challenged(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202, await post.clone().text());
      const put = await challenged(withQuery(relative(post.headers.get('location')!), { digest: config.digest }), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: config.bytes,
      });
      assert.equal(put.status, 201, await put.clone().text());
      const m = imageManifest({ config: descriptorOf(config, OCI_CONFIG) });
      const putManifest = await challenged(`/v2/${repo}/manifests/v1`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes });
      assert.equal(putManifest.status, 201, await putManifest.clone().text());
      const get = await challenged(`/v2/${repo}/manifests/v1`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(get.status, 200);
      assert.deepEqual(Buffer.from(await get.arrayBuffer()), m.bytes);
      const tags = await challenged(`/v2/${repo}/tags/list`);
      assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
      const del = await challenged(`/v2/${repo}/manifests/${m.digest}`, { method: 'DELETE' });
      assert.equal(del.status, 202);
    });
  });

  describe('repository names', () => {
    it('a name with fewer than three components is NAME_INVALID, explaining the form', async () => {
      for (const bad of ['app', 'demo/app']) {
        const body = await expectOciError(await server.fetch(`/v2/${bad}/blobs/uploads/`, { method: 'POST' }), 400, 'NAME_INVALID');
        assert.match(body.errors[0]!.message, /\{project\}\/\{repo\}\/\{image\}/);
        await expectOciError(await server.fetch(`/v2/${bad}/tags/list`), 400, 'NAME_INVALID');
      }
    });

    it('components outside the grammar are NAME_INVALID', async () => {
      for (const bad of ['demo/Docker/app', 'demo/docker/app_', 'demo/docker/-app', 'demo//app', `demo/docker/${'a'.repeat(256)}`, `${'p'.repeat(33)}/docker/app`]) {
        await expectOciError(await server.fetch(`/v2/${bad}/manifests/v1`), 400, 'NAME_INVALID');
      }
    });

    it('`..` components are NAME_INVALID, sent raw or percent-encoded', async () => {
      for (const path of [`/v2/demo/../docker/app/tags/list`, `/v2/demo/docker/../tags/list`, `/v2/demo/docker/../../etc/blobs/uploads/`]) {
        const res = await rawRequest(server, path.includes('uploads') ? 'POST' : 'GET', path, { 'Content-Length': '0' });
        assert.equal(res.status, 400, res.head);
        assert.equal((JSON.parse(res.body.toString()) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_INVALID');
      }
      await expectOciError(await server.fetch('/v2/demo/docker/%2E%2E/tags/list'), 400, 'NAME_INVALID');
    });

    it('pushing into a valid but missing project creates it (admin)', async () => {
      const fresh = `fresh${process.pid}/docker/app`;
      await pushBlob(server, fresh, blob('fresh'));
    });
  });

  describe('digests', () => {
    it('a malformed digest in a blob URL is 400 DIGEST_INVALID', async () => {
      for (const bad of ['sha256:xyz', 'sha256:' + 'A'.repeat(64), 'md5:d41d8cd98f00b204e9800998ecf8427e', 'nocolon']) {
        await expectOciError(await server.fetch(`/v2/${name}/blobs/${bad}`), 400, 'DIGEST_INVALID');
      }
    });

    it('a malformed or missing digest on upload is 400 DIGEST_INVALID', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/blobs/uploads/?digest=sha256:nope`, { method: 'POST', body: 'x' }), 400, 'DIGEST_INVALID');
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(post.headers.get('location')!);
      await expectOciError(await server.fetch(loc, { method: 'PUT', body: 'abc' }), 400, 'DIGEST_INVALID');
      await server.fetch(loc, { method: 'DELETE' });
    });

    it('a monolithic upload whose digest does not match leaves nothing behind', async () => {
      const uploadsBefore = await listDir(join(server.dataDir, 'uploads'));
      const b = blob('the real content');
      const claimed = sha256('something else');
      await expectOciError(await server.fetch(`/v2/${name}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: b.bytes }), 400, 'DIGEST_INVALID');
      for (const d of [claimed, b.digest]) {
        const head = await server.fetch(`/v2/${name}/blobs/${d}`, { method: 'HEAD' });
        assert.equal(head.status, 404, d);
      }
      assert.deepEqual(await listDir(join(server.dataDir, 'uploads')), uploadsBefore);
      const blobFiles = await listDir(join(server.dataDir, 'blobs'));
      for (const d of [claimed, b.digest]) assert.ok(!blobFiles.some((f) => f.endsWith(d.slice(7))), d);
    });

    it('a session finished with the wrong digest is discarded with its bytes', async () => {
      const uploadsBefore = await listDir(join(server.dataDir, 'uploads'));
      const b = randomBlob(50);
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(post.headers.get('location')!);
      const patch = await server.fetch(loc, { method: 'PATCH', body: b.bytes });
      assert.equal(patch.status, 202);
      const wrong = sha256('wrong');
      await expectOciError(await server.fetch(withQuery(loc, { digest: wrong }), { method: 'PUT' }), 400, 'DIGEST_INVALID');
      await expectOciError(await server.fetch(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal((await server.fetch(`/v2/${name}/blobs/${b.digest}`, { method: 'HEAD' })).status, 404);
      assert.deepEqual(await listDir(join(server.dataDir, 'uploads')), uploadsBefore);
    });

    it('a manifest pushed by a digest that does not match its bytes is 400 DIGEST_INVALID', async () => {
      const config = configBlob();
      await pushBlob(server, name, config);
      const m = imageManifest({ config: descriptorOf(config, OCI_CONFIG) });
      const res = await server.fetch(`/v2/${name}/manifests/${sha256('other')}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes });
      await expectOciError(res, 400, 'DIGEST_INVALID');
      assert.equal((await server.fetch(`/v2/${name}/manifests/${m.digest}`, { method: 'HEAD' })).status, 404);
    });
    it('a manifest that is not UTF-8 is 400 MANIFEST_INVALID and not stored, under its tag or its digest', async () => {
      const config = configBlob();
      await pushBlob(server, name, config);
      const m = imageManifest({ config: descriptorOf(config, OCI_CONFIG), annotations: { note: 'caf\u00e9' } });
      // The same manifest with its é as one Latin-1 byte: JSON.parse alone would take it.
      const latin1 = Buffer.from(m.bytes.toString('utf8'), 'latin1');
      for (const reference of ['latin1', sha256(latin1)]) {
        const res = await server.fetch(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: latin1 });
        await expectOciError(res, 400, 'MANIFEST_INVALID');
        assert.equal((await server.fetch(`/v2/${name}/manifests/${reference}`, { method: 'HEAD' })).status, 404);
      }
      const ok = await server.fetch(`/v2/${name}/manifests/utf8`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes });
      assert.equal(ok.status, 201, await ok.text());
    });
  });

  describe('upload sessions', () => {
    it('an out-of-order PATCH is 416 with the current Range and Location, and no body', async () => {
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(post.headers.get('location')!);
      const first = await server.fetch(loc, { method: 'PATCH', headers: { 'content-range': '0-9' }, body: Buffer.alloc(10, 1) });
      assert.equal(first.status, 202);
      const res = await server.fetch(loc, { method: 'PATCH', headers: { 'content-range': '20-29', 'content-length': '10' }, body: Buffer.alloc(10, 2) });
      assert.equal(res.status, 416);
      assert.equal(res.headers.get('range'), '0-9');
      assert.equal(relative(res.headers.get('location') ?? ''), loc);
      assert.equal(await res.text(), '');
      const status = await server.fetch(loc);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-9', 'the refused chunk added nothing');
    });

    it('a malformed Content-Range is 416', async () => {
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(post.headers.get('location')!);
      const res = await server.fetch(loc, { method: 'PATCH', headers: { 'content-range': 'garbage' }, body: 'abc' });
      assert.equal(res.status, 416);
      assert.ok(res.headers.get('location'));
      await res.arrayBuffer();
    });

    it('GET on an upload is 204 with Range, Location and the session id', async () => {
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const loc = relative(post.headers.get('location')!);
      const id = loc.split('/').pop()!;
      await server.fetch(loc, { method: 'PATCH', body: Buffer.alloc(7) });
      const res = await server.fetch(loc);
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('range'), '0-6');
      assert.equal(relative(res.headers.get('location') ?? ''), loc);
      assert.equal(res.headers.get('blob-upload-session-id'), id);
      assert.equal(await res.text(), '');
    });

    it('an unknown session, or one of another repository, is 404 BLOB_UPLOAD_UNKNOWN', async () => {
      await expectOciError(await server.fetch(`/v2/${name}/blobs/uploads/00000000-0000-0000-0000-000000000000`), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectOciError(await server.fetch(`/v2/${name}/blobs/uploads/not-a-session`, { method: 'PATCH', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const id = relative(post.headers.get('location')!).split('/').pop()!;
      const other = uniqueName('errors-other');
      await pushBlob(server, other, blob('other repo'));
      await expectOciError(await server.fetch(`/v2/${other}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('DELETE cancels an upload: 204, then the session is unknown and its bytes are gone', async () => {
      const uploadsBefore = await listDir(join(server.dataDir, 'uploads'));
      const post = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(post.headers.get('location')!);
      await server.fetch(loc, { method: 'PATCH', body: Buffer.alloc(100) });
      const del = await server.fetch(loc, { method: 'DELETE' });
      assert.equal(del.status, 204);
      await expectOciError(await server.fetch(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectOciError(await server.fetch(loc, { method: 'PATCH', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectOciError(await server.fetch(loc, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.deepEqual(await listDir(join(server.dataDir, 'uploads')), uploadsBefore);
    });

    it('a cross-repository mount is 201 when the source has the blob, else a fresh upload (202)', async () => {
      const source = uniqueName('errors-source');
      const b = randomBlob(33);
      await pushBlob(server, source, b);
      const target = uniqueName('errors-target');
      const ok = await server.fetch(`/v2/${target}/blobs/uploads/?mount=${b.digest}&from=${source}`, { method: 'POST' });
      assert.equal(ok.status, 201);
      assert.equal(relative(ok.headers.get('location')!), `/v2/${target}/blobs/${b.digest}`);
      for (const from of [name, 'not/a-valid/Name', 'x']) {
        const res = await server.fetch(`/v2/${uniqueName('errors-target')}/blobs/uploads/?mount=${b.digest}&from=${encodeURIComponent(from)}`, { method: 'POST' });
        assert.equal(res.status, 202, from);
        assert.match(relative(res.headers.get('location')!), /\/blobs\/uploads\/[^/]+$/);
      }
    });
  });

  describe('blob reads with Range', () => {
    const b = blob('0123456789abcdefghij');
    before(async () => {
      await pushBlob(server, name, b);
    });

    it('a satisfiable range is 206 with Content-Range and exactly those bytes', async () => {
      for (const [range, start, end] of [['bytes=0-4', 0, 4], ['bytes=5-', 5, 19], ['bytes=-3', 17, 19], ['bytes=15-100', 15, 19]] as const) {
        const res = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { headers: { range } });
        assert.equal(res.status, 206, range);
        assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${b.size}`);
        assert.equal(res.headers.get('content-length'), String(end - start + 1));
        assert.equal(Buffer.from(await res.arrayBuffer()).toString(), b.bytes.subarray(start, end + 1).toString());
      }
    });

    it('an unsatisfiable range is 416 with Content-Range bytes */size and no body', async () => {
      for (const range of ['bytes=20-', 'bytes=30-40', 'bytes=5-2']) {
        const res = await server.fetch(`/v2/${name}/blobs/${b.digest}`, { headers: { range } });
        assert.equal(res.status, 416, range);
        assert.equal(res.headers.get('content-range'), `bytes */${b.size}`);
        assert.equal(await res.text(), '');
      }
    });

    it('HEAD of a blob carries its length and no body, on the wire', async () => {
      const res = await rawRequest(server, 'HEAD', `/v2/${name}/blobs/${b.digest}`);
      assert.equal(res.status, 200);
      assert.match(res.head, new RegExp(`content-length: ${b.size}`, 'i'));
      assert.equal(res.body.length, 0);
    });
  });

  describe('manifests', () => {
    it('a manifest over 4 MiB is 413', async () => {
      const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
      const res = await server.fetch(`/v2/${name}/manifests/huge`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: huge });
      assert.equal(res.status, 413);
      const body = JSON.parse(await res.text()) as { errors: { code: string }[] };
      assert.equal(body.errors[0]!.code, 'MANIFEST_INVALID');
    });

    it('a Docker schema1 manifest is refused with a message that says so', async () => {
      const schema1 = JSON.stringify({ schemaVersion: 1, name, tag: 'old', architecture: 'amd64', fsLayers: [], history: [] });
      for (const type of ['application/vnd.docker.distribution.manifest.v1+prettyjws', 'application/vnd.docker.distribution.manifest.v1+json', 'application/json']) {
        const res = await server.fetch(`/v2/${name}/manifests/old`, { method: 'PUT', headers: { 'content-type': type }, body: schema1 });
        const body = await expectOciError(res, 400, 'MANIFEST_INVALID');
        assert.match(body.errors[0]!.message, /schema1/i);
      }
    });

    it('invalid JSON, a wrong schemaVersion or a Content-Type that contradicts mediaType are MANIFEST_INVALID', async () => {
      const config = configBlob();
      await pushBlob(server, name, config);
      const good = imageManifest({ config: descriptorOf(config, OCI_CONFIG) });
      await expectOciError(await server.fetch(`/v2/${name}/manifests/bad`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: 'blablabla' }), 400, 'MANIFEST_INVALID');
      await expectOciError(await server.fetch(`/v2/${name}/manifests/bad`, { method: 'PUT', headers: { 'content-type': OCI_INDEX }, body: good.bytes }), 400, 'MANIFEST_INVALID');
      const v3 = Buffer.from(good.bytes.toString().replace('"schemaVersion": 2', '"schemaVersion": 3'));
      await expectOciError(await server.fetch(`/v2/${name}/manifests/bad`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: v3 }), 400, 'MANIFEST_INVALID');
      await expectOciError(await server.fetch(`/v2/${name}/manifests/bad`), 404, 'MANIFEST_UNKNOWN');
    });

    it('a malformed tag on PUT is a 400', async () => {
      const config = configBlob();
      await pushBlob(server, name, config);
      const m = imageManifest({ config: descriptorOf(config, OCI_CONFIG) });
      const res = await server.fetch(`/v2/${name}/manifests/.bad-tag`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes });
      assert.equal(res.status, 400);
      await res.arrayBuffer();
    });

    it('a manifest referencing a blob not in the repository is MANIFEST_BLOB_UNKNOWN naming the digest', async () => {
      const config = configBlob();
      await pushBlob(server, name, config);
      const missing = randomBlob(10);
      const m = imageManifest({ config: descriptorOf(config, OCI_CONFIG), layers: [descriptorOf(missing, OCI_LAYER_GZIP)] });
      const body = await expectOciError(
        await server.fetch(`/v2/${name}/manifests/broken`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes }),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
      assert.equal((body.errors[0]!.detail as { digest: string }).digest, missing.digest);
      await expectOciError(await server.fetch(`/v2/${name}/manifests/broken`), 404, 'MANIFEST_UNKNOWN');
    });

    it('a blob that exists only in another repository does not count', async () => {
      const other = uniqueName('errors-elsewhere');
      const elsewhere = await pushImage(server, other, 'v1');
      const res = await server.fetch(`/v2/${name}/manifests/borrowed`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: elsewhere.manifest.bytes });
      await expectOciError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('an index whose child manifest is missing is refused with MANIFEST_BLOB_UNKNOWN (the spec\'s code for any missing descriptor)', async () => {
      const present = await pushImage(server, name, 'child');
      const absent = imageManifest({ config: descriptorOf(configBlob(), OCI_CONFIG) });
      const index = imageIndex({ manifests: [present.manifest.descriptor, absent.descriptor] });
      const body = await expectOciError(
        await server.fetch(`/v2/${name}/manifests/multi`, { method: 'PUT', headers: { 'content-type': OCI_INDEX }, body: index.bytes }),
        400,
        'MANIFEST_BLOB_UNKNOWN',
      );
      assert.match(body.errors[0]!.message, new RegExp(absent.digest));
      const ok = imageIndex({ manifests: [present.manifest.descriptor] });
      await pushManifest(server, name, 'multi', ok);
    });

    it('an index asked for by digest is that index whatever the Accept header; by tag a narrow Accept gets its linux/amd64 child', async () => {
      const child = await pushImage(server, name, 'amd64-child');
      const index = imageIndex({ manifests: [{ ...child.manifest.descriptor, platform: { os: 'linux', architecture: 'amd64' } } as never] });
      await pushManifest(server, name, 'platforms', index);
      for (const method of ['GET', 'HEAD']) {
        const byDigest = await server.fetch(`/v2/${name}/manifests/${index.digest}`, { method, headers: { accept: OCI_MANIFEST } });
        assert.equal(byDigest.status, 200);
        assert.equal(byDigest.headers.get('docker-content-digest'), index.digest);
        assert.equal(byDigest.headers.get('content-type'), OCI_INDEX);
        if (method === 'GET') assert.deepEqual(Buffer.from(await byDigest.arrayBuffer()), index.bytes);
      }
      const byTag = await server.fetch(`/v2/${name}/manifests/platforms`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(byTag.status, 200);
      assert.equal(byTag.headers.get('docker-content-digest'), child.manifest.digest);
    });

    it('If-None-Match with the manifest\'s ETag answers 304 without a body, by tag and by digest', async () => {
      const pushed = await pushImage(server, name, 'cached');
      const etag = `"${pushed.manifest.digest}"`;
      for (const reference of ['cached', pushed.manifest.digest]) {
        for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
          const res = await server.fetch(`/v2/${name}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST, 'if-none-match': ifNoneMatch } });
          assert.equal(res.status, 304, `${reference} ${ifNoneMatch}`);
          assert.equal(res.headers.get('etag'), etag);
          assert.equal(res.headers.get('docker-content-digest'), pushed.manifest.digest);
          assert.equal((await res.arrayBuffer()).byteLength, 0);
        }
      }
      const stale = await server.fetch(`/v2/${name}/manifests/cached`, { headers: { accept: OCI_MANIFEST, 'if-none-match': '"sha256:0000"' } });
      assert.equal(stale.status, 200);
      assert.deepEqual(Buffer.from(await stale.arrayBuffer()), pushed.manifest.bytes);
    });

    it('a descriptor whose size contradicts the stored blob is MANIFEST_INVALID', async () => {
      const config = configBlob();
      await pushBlob(server, name, config);
      const m = imageManifest({ config: { ...descriptorOf(config, OCI_CONFIG), size: config.size + 1 } });
      await expectOciError(await server.fetch(`/v2/${name}/manifests/wrongsize`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes }), 400, 'MANIFEST_INVALID');
    });

    it('HEAD of a missing manifest is 404 with no body, on the wire', async () => {
      const res = await rawRequest(server, 'HEAD', `/v2/${name}/manifests/nope`);
      assert.equal(res.status, 404);
      assert.equal(res.body.length, 0);
    });
  });

  describe('endpoints and methods', () => {
    it('GET /v2/ answers 200 with the API version header', async () => {
      const res = await server.fetch('/v2/');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
      await res.arrayBuffer();
    });

    it('a method an endpoint does not support is 405 UNSUPPORTED', async () => {
      const res = await server.fetch(`/v2/${name}/manifests/v1`, { method: 'PATCH', body: '{}' });
      await expectOciError(res, 405, 'UNSUPPORTED');
      await expectOciError(await server.fetch(`/v2/${name}/tags/list`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    });

    it('an unknown /v2 path is 404', async () => {
      const res = await server.fetch('/v2/demo/docker/app/nothing-here');
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    });
  });
});
