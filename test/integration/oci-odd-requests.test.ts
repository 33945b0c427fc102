/**
 * Requests real or broken clients send that Fastify would refuse before Berth's handlers, in its
 * own JSON: an empty or malformed Content-Type (Fastify: 415 for any such POST, PUT or PATCH,
 * bodiless or not) and URLs its router cannot decode. /v2 takes the first as if the header were
 * absent and answers the second in the /v2 error format; the management API in its envelope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { configBlob, describe as descriptor, imageManifest, OCI_CONFIG, OCI_LAYER_GZIP, randomBlob, relative, uniqueName } from '../support/oci-fixtures.ts';
import { head, rawRequest, type RawResponse } from '../support/raw-http.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

describe('odd requests on /v2 and the management API', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server?.close();
  });

  /** One request on its own connection, with the admin's credentials and exactly `headers` otherwise. */
  function send(method: string, path: string, headers: Record<string, string | number>, body: Buffer | string = ''): Promise<RawResponse> {
    const bytes = Buffer.from(body);
    const request = Buffer.concat([
      Buffer.from(head(method, path, { host: 'localhost', authorization: server.authorization, connection: 'close', 'content-length': bytes.length, ...headers }), 'latin1'),
      bytes,
    ]);
    return rawRequest(server.baseUrl, request);
  }

  // Blob uploads never look at Content-Type. A manifest's says which type it is: an empty one
  // (nothing before any `;`) is as if absent; anything else must match the manifest's mediaType.
  for (const [contentType, manifestStatus] of [['', 201], [';;;', 201], ['undefined', 400], ['octet stream', 400]] as const) {
    it(`uploads with Content-Type ${JSON.stringify(contentType)} are taken, a manifest with it answers ${manifestStatus}`, async () => {
      const name = uniqueName('odd-type');
      const config = configBlob();
      const layer = randomBlob(3000);

      // A session, then the layer in a PATCH and a bodiless PUT; the config in one POST.
      const started = await send('POST', `/v2/${name}/blobs/uploads/`, { 'content-type': contentType });
      assert.equal(started.status, 202, started.raw);
      const location = relative(started.headers.location!);
      const patched = await send('PATCH', location, { 'content-type': contentType }, layer.bytes);
      assert.equal(patched.status, 202, patched.raw);
      const closed = await send('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${layer.digest}`, { 'content-type': contentType });
      assert.equal(closed.status, 201, closed.raw);
      const monolithic = await send('POST', `/v2/${name}/blobs/uploads/?digest=${config.digest}`, { 'content-type': contentType }, config.bytes);
      assert.equal(monolithic.status, 201, monolithic.raw);

      const manifest = imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [descriptor(layer, OCI_LAYER_GZIP)] });
      const put = await send('PUT', `/v2/${name}/manifests/v1`, { 'content-type': contentType }, manifest.bytes);
      assert.equal(put.status, manifestStatus, put.raw);
      if (manifestStatus === 400) {
        assert.equal((JSON.parse(put.body) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_INVALID');
        const retried = await send('PUT', `/v2/${name}/manifests/v1`, { 'content-type': manifest.mediaType }, manifest.bytes);
        assert.equal(retried.status, 201, retried.raw);
      } else {
        assert.equal(put.headers['docker-content-digest'], manifest.digest);
      }

      const pulled = await server.fetch(`/v2/${name}/blobs/${layer.digest}`);
      assert.equal(pulled.status, 200);
      assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), layer.bytes);
      const got = await server.fetch(`/v2/${name}/manifests/v1`, { headers: { accept: manifest.mediaType } });
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), manifest.mediaType);
    });
  }

  it("a manifest's Content-Type that contradicts its mediaType is still refused", async () => {
    const name = uniqueName('odd-type');
    const config = configBlob();
    const manifest = imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [] });
    const res = await send('PUT', `/v2/${name}/manifests/v1`, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' }, manifest.bytes);
    assert.equal(res.status, 400, res.raw);
    assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_INVALID');
  });

  it('a URL the router cannot decode is a 400 in the /v2 error format, or in the envelope', async () => {
    for (const path of ['/v2/demo/docker/app/manifests/%zz', '/v2/demo/docker/%E0%A4%A/tags/list']) {
      const res = await send('GET', path, {});
      assert.equal(res.status, 400, res.raw);
      const body = JSON.parse(res.body) as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0]!.code, 'PARAMETER_INVALID', res.body);
      assert.match(body.errors[0]!.message, /not a valid url component/);
    }
    const head = await send('HEAD', '/v2/demo/docker/app/manifests/%zz', {});
    assert.equal(head.status, 400);
    assert.equal(head.body, '');

    const ext = await send('GET', '/docker/api/v1/%zz', {});
    assert.equal(ext.status, 400, ext.raw);
    const envelope = JSON.parse(ext.body) as { code: number; message: string; data: null; traceId: string };
    assert.notEqual(envelope.code, 0);
    assert.equal(envelope.data, null);
    assert.ok(envelope.traceId);
  });

  it('a body Fastify refuses before any route answers in the format of the path: envelope, or the token service\'s', async () => {
    // Unknown paths and paths without a scope of their own: Fastify checks the Content-Type and
    // parses a JSON body before it knows there is no route.
    for (const [path, contentType, body, status] of [
      ['/nope', ';;', 'x', 415],
      ['/docker/api/nope', 'application/json', '{bad', 400],
      ['/healthz', 'application/json', '{bad', 400],
    ] as const) {
      const res = await send('POST', path, { 'content-type': contentType }, body);
      assert.equal(res.status, status, `${path}: ${res.raw}`);
      const envelope = JSON.parse(res.body) as { code: number; message: string; data: null; traceId: string };
      assert.notEqual(envelope.code, 0, res.body);
      assert.equal(envelope.data, null);
      assert.equal(envelope.traceId, res.headers['x-trace-id']);
    }
    const token = await send('POST', '/v2/auth', { 'content-type': ';;' }, 'grant_type=password');
    assert.equal(token.status, 415, token.raw);
    assert.equal((JSON.parse(token.body) as { errors: { code: string }[] }).errors[0]!.code, 'UNSUPPORTED', token.body);
  });

  it('a request target in absolute form (RFC 9112: servers must accept it) is served as its path', async () => {
    const tags = await send('GET', `${server.baseUrl}/v2/demo/docker/absolute/tags/list`, {});
    assert.equal(tags.status, 404, tags.raw);
    assert.equal((JSON.parse(tags.body) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_UNKNOWN');
    const root = await send('GET', `${server.baseUrl.toUpperCase().replace('HTTP', 'http')}/v2/`, {});
    assert.equal(root.status, 200, root.raw);
    const health = await send('GET', 'http://localhost/healthz?x=1', {});
    assert.equal(health.status, 200, health.raw);
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
  });

  it('a method the /v2 scope has no route for answers 405 in the /v2 error format', async () => {
    for (const path of ['/v2/', '/v2/demo/docker/app/manifests/v1']) {
      const res = await send('PROPFIND', path, {});
      assert.equal(res.status, 405, res.raw);
      assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]!.code, 'UNSUPPORTED', res.body);
    }
    const elsewhere = await send('PROPFIND', '/docker/api/nope', {});
    assert.equal(elsewhere.status, 404, elsewhere.raw);
    assert.equal((JSON.parse(elsewhere.body) as { data: null }).data, null);
  });

  it('an over-long URL is refused without echoing it whole', async () => {
    const res = await send('GET', `/repository/api/project/info/${'a'.repeat(5000)}`, {});
    assert.ok((res.status ?? 0) >= 400 && (res.status ?? 0) < 500, res.raw.slice(0, 300));
    assert.ok(res.body.length < 1000, `${res.body.length} bytes of body`);
  });

  // RFC 9110 10.1.1: the client waits for 100 before sending the body; a request refused anyway
  // must not be told to send it.
  it('Expect: 100-continue gets 100 only once the body is wanted: not before a 401, before a JSON parse and an upload', async () => {
    const layer = randomBlob(5000);
    const upload = `/v2/${uniqueName('expect')}/blobs/uploads/?digest=${layer.digest}`;
    const expectHead = (authorization: string | undefined, path: string, length: number, type = 'application/octet-stream') =>
      head('POST', path, { host: 'localhost', ...(authorization ? { authorization } : {}), connection: 'close', expect: '100-continue', 'content-type': type, 'content-length': length });

    const refused = await rawRequest(server.baseUrl, expectHead(undefined, upload, layer.bytes.length));
    assert.equal(refused.status, 401, refused.raw.slice(0, 300));
    assert.ok(!refused.raw.includes('100 Continue'), refused.raw.slice(0, 300));
    assert.equal(refused.headers.connection, 'close');
    assert.ok(refused.closed, 'the connection is closed: the body may still come');

    // The body goes only after the 100 (parts are written 300 ms later; a 100 sent late would still precede them).
    const pushed = await rawRequest(server.baseUrl, expectHead(server.authorization, upload, layer.bytes.length), { parts: [layer.bytes], delayMs: 300 });
    assert.match(pushed.raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /, pushed.raw.slice(0, 300));
    const fetched = await server.fetch(relative(pushed.raw.match(/\r\nlocation: (\S+)/i)![1]!));
    assert.deepEqual(Buffer.from(await fetched.arrayBuffer()), layer.bytes);

    const json = '{not json';
    const parsed = await rawRequest(server.baseUrl, expectHead(server.authorization, '/repository/api/project/create', json.length, 'application/json'), { parts: [json], delayMs: 300 });
    assert.match(parsed.raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 400 /, parsed.raw.slice(0, 300));
  });
});
