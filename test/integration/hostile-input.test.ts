/**
 * Hostile and malformed requests: each gets a 4xx with a proper error body (or, for HTTP protocol
 * violations, a closed connection), never a 5xx or a hang, and nothing stored changes.
 * Raw sockets (node:net) where fetch() cannot express the request.
 */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  blob,
  configBlob,
  describe as descriptor,
  imageManifest,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  pushBlob,
  pushManifest,
  randomBlob,
  relative,
  sha256,
} from '../support/oci-fixtures.ts';
import { head, rawRequest, type RawResponse } from '../support/raw-http.ts';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';

const NAME = 'demo/docker/app';
const ZERO = `sha256:${'0'.repeat(64)}`;

/** Files under blobs/ and uploads/ with sizes, and the rows that matter, as one comparable string. */
async function snapshot(server: TestServer): Promise<string> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else files.push(`${path.slice(server.dataDir.length)} ${(await stat(path)).size}`);
    }
  };
  await walk(join(server.dataDir, 'blobs'));
  await walk(join(server.dataDir, 'uploads'));
  const db = new Database(join(server.dataDir, 'berth.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = {
      blobs: db.prepare('SELECT digest, size FROM blobs ORDER BY digest').all(),
      links: db.prepare('SELECT image_id, digest FROM image_blobs ORDER BY image_id, digest').all(),
      manifests: db.prepare('SELECT image_id, digest, size FROM manifests ORDER BY image_id, digest').all(),
      tags: db.prepare('SELECT image_id, name, digest FROM tags ORDER BY image_id, name').all(),
      uploads: db.prepare('SELECT id FROM uploads ORDER BY id').all(),
      images: db.prepare('SELECT id, project, repo, image FROM images ORDER BY id').all(),
      projects: db.prepare('SELECT name FROM projects ORDER BY name').all(),
    };
    return JSON.stringify({ files: files.sort(), rows }, null, 1);
  } finally {
    db.close();
  }
}

/** A 4xx with an OCI error body (none for HEAD). */
async function expect4xx(res: Response, what: string): Promise<void> {
  const text = await res.text();
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected 4xx, got ${res.status} ${text.slice(0, 300)}`);
  if (res.status === 416 && text === '') return; // the spec answers a refused chunk or range with headers only
  const body = JSON.parse(text) as { errors?: { code: string; message: string }[]; code?: number; message?: string };
  if (body.errors) {
    assert.ok(body.errors.length > 0 && typeof body.errors[0]!.code === 'string' && typeof body.errors[0]!.message === 'string', `${what}: ${text}`);
  } else {
    assert.ok(typeof body.message === 'string', `${what}: an error body: ${text}`);
  }
}

/** A raw answer that is a 4xx, or a closed connection without any answer (a protocol violation). */
function expectRaw4xxOrClosed(res: RawResponse, what: string): void {
  if (res.status === undefined) {
    assert.ok(res.closed, `${what}: no answer and the connection was not closed (hang)`);
    return;
  }
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected 4xx, got ${res.status}: ${res.raw.slice(0, 300)}`);
}

describe('hostile input', { timeout: 120_000 }, () => {
  let server: TestServer;
  let auth: string;
  let layer: ReturnType<typeof randomBlob>;
  let before0: string;

  before(async () => {
    server = await startTestServer({ BERTH_GC_INTERVAL: '0', BERTH_HEADERS_TIMEOUT: '1', BERTH_IDLE_TIMEOUT: '1' });
    auth = server.authorization;
    const config = configBlob();
    layer = randomBlob(1000);
    await pushBlob(server, NAME, config);
    await pushBlob(server, NAME, layer);
    await pushManifest(server, NAME, 'v1', imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [descriptor(layer, OCI_LAYER_GZIP)] }));
    before0 = await snapshot(server);
  });
  after(async () => {
    await server?.close();
  });

  /** Runs `fn`, then checks nothing stored changed and the server still answers. */
  async function unchanged(fn: () => Promise<void>): Promise<void> {
    const start = await snapshot(server);
    await fn();
    assert.equal(await snapshot(server), start, 'nothing stored may change');
    assert.equal((await server.fetch('/v2/')).status, 200, 'the server still answers');
  }

  it('names with `..`, encoded traversal, NUL and unicode are refused', async () => {
    await unchanged(async () => {
      const paths = [
        '/v2/demo/docker/../../etc/blobs/uploads/',
        '/v2/demo/../docker/app/blobs/uploads/',
        '/v2/demo/docker/%2e%2e/blobs/uploads/',
        '/v2/demo/docker/%2E%2E%2F%2E%2E/blobs/uploads/',
        '/v2/demo%2fdocker%2fapp/blobs/uploads/',
        '/v2/demo/docker/app%2f..%2f..%2fx/blobs/uploads/',
        '/v2/demo/docker/%00app/blobs/uploads/',
        '/v2/demo/docker/app%00/manifests/v1',
        '/v2/demo/docker/%C3%A9/blobs/uploads/',
        '/v2/demo/docker/%F0%9F%92%A9/tags/list',
        '/v2/demo/docker/app/../../../../blobs/' + ZERO,
        '/v2/..%2f..%2f..%2fetc%2fpasswd/manifests/latest',
        '/v2/demo/docker/%ff%fe/manifests/v1',
      ];
      for (const path of paths) {
        for (const method of ['POST', 'GET', 'PUT']) {
          const res = await rawRequest(server.baseUrl, head(method, path, { host: 'x', authorization: auth, 'content-length': 0, connection: 'close' }));
          expectRaw4xxOrClosed(res, `${method} ${path}`);
          if (res.status !== undefined && res.headers['content-type']?.startsWith('application/json')) {
            assert.match(res.body, /"(errors|message)"/, `${method} ${path}: an error body`);
          }
        }
      }
      // A raw NUL byte and raw non-ASCII bytes in the request line.
      for (const bytes of [Buffer.from('GET /v2/demo/docker/a\0pp/tags/list HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', 'latin1'), Buffer.concat([Buffer.from('GET /v2/demo/docker/'), Buffer.from('ä漢', 'utf8'), Buffer.from('/tags/list HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')])]) {
        expectRaw4xxOrClosed(await rawRequest(server.baseUrl, bytes), 'raw bytes in the path');
      }
    });
  });

  it('tags with NUL, unicode, traversal or over 128 characters are refused on PUT and unknown on GET', async () => {
    const config = configBlob();
    const m = imageManifest({ config: descriptor(config, OCI_CONFIG), layers: [descriptor(layer, OCI_LAYER_GZIP)] });
    await unchanged(async () => {
      for (const tag of ['t%00ag', '%C3%A9t%C3%A9', '..', '.hidden', '%2e%2e%2f%2e%2e', 'a'.repeat(129), '-x', "x'%3B%20DROP%20TABLE%20tags%3B--", '%F0%9F%92%A9']) {
        await expect4xx(await server.fetch(`/v2/${NAME}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m.bytes }), `PUT tag ${tag}`);
        await expect4xx(await server.fetch(`/v2/${NAME}/manifests/${tag}`), `GET tag ${tag}`);
        await expect4xx(await server.fetch(`/v2/${NAME}/manifests/${tag}`, { method: 'DELETE' }), `DELETE tag ${tag}`);
      }
    });
  });

  it('invalid digests and algorithms are DIGEST_INVALID everywhere', async () => {
    await unchanged(async () => {
      const bad = ['sha256:zz', 'md5:d41d8cd98f00b204e9800998ecf8427e', `sha256:${'a'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(64)}`, `sha256:${'a'.repeat(64)}%00`, 'sha256', ':', `sha256:${'a'.repeat(64)}x`, 'sha256%3A..%2F..%2Fetc', `${'a'.repeat(5000)}:${'b'.repeat(64)}`];
      for (const d of bad) {
        await expect4xx(await server.fetch(`/v2/${NAME}/blobs/${d}`), `GET blob ${d}`);
        await expect4xx(await server.fetch(`/v2/${NAME}/blobs/${d}`, { method: 'DELETE' }), `DELETE blob ${d}`);
        await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/?digest=${d}`, { method: 'POST', body: Buffer.from('x') }), `POST ?digest=${d}`);
        await expect4xx(await server.fetch(`/v2/${NAME}/referrers/${d}`), `referrers ${d}`);
        await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/?mount=${d}&from=${NAME}`, { method: 'POST' }), `mount ${d}`);
      }
    });
  });

  it('digest mismatches leave nothing behind: monolithic, chunked, repeated digest=', async () => {
    await unchanged(async () => {
      const body = Buffer.from('some bytes');
      const mono = await server.fetch(`/v2/${NAME}/blobs/uploads/?digest=${ZERO}`, { method: 'POST', body });
      await expect4xx(mono, 'monolithic mismatch');
      // A session: PATCH, then PUT with a wrong digest; the session is gone afterwards.
      const start = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST' });
      const loc = relative(start.headers.get('location')!);
      assert.equal((await server.fetch(loc, { method: 'PATCH', body })).status, 202);
      await expect4xx(await server.fetch(`${loc}?digest=${ZERO}`, { method: 'PUT' }), 'PUT mismatch');
      await expect4xx(await server.fetch(loc), 'the session is gone');
      // digest= twice: ambiguous, refused even when one of them matches.
      const start2 = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST' });
      const loc2 = relative(start2.headers.get('location')!);
      await expect4xx(await server.fetch(`${loc2}?digest=${sha256(body)}&digest=${ZERO}`, { method: 'PUT', body }), 'PUT digest= twice');
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/?digest=${sha256(body)}&digest=${sha256(body)}x`, { method: 'POST', body }), 'POST digest= twice');
      // Clean up the second session (a refused PUT keeps it, as the spec allows a retry).
      const del = await server.fetch(loc2, { method: 'DELETE' });
      assert.ok(del.status === 204 || del.status === 404, `cancel: ${del.status}`);
      // A manifest PUT by a digest that is not its own.
      await expect4xx(await server.fetch(`/v2/${NAME}/manifests/${ZERO}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: Buffer.from('{"schemaVersion":2}') }), 'manifest by wrong digest');
    });
  });

  it('broken, giant and deeply nested manifest JSON is MANIFEST_INVALID or 413', async () => {
    const deepArrays = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const deepObjects = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const config = blob('{}');
    const bodies: [string, string | Buffer][] = [
      ['empty', ''],
      ['not JSON', 'not json at all'],
      ['truncated', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{'],
      ['a JSON string', '"manifest"'],
      ['null', 'null'],
      ['an array', '[]'],
      ['100k nested arrays', deepArrays],
      ['100k nested objects', deepObjects],
      ['nested arrays inside config', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${deepArrays},"layers":[]}`],
      ['nested objects in annotations', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor(config, OCI_CONFIG))},"layers":[],"annotations":${deepObjects}}`],
      ['layers an object', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor(config, OCI_CONFIG))},"layers":{"length":1e9}}`],
      ['size negative', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${OCI_CONFIG}","digest":"${config.digest}","size":-1},"layers":[]}`],
      ['size huge', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${OCI_CONFIG}","digest":"${config.digest}","size":1e300},"layers":[]}`],
      ['digest traversal', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"${OCI_CONFIG}","digest":"sha256:../../../etc/passwd","size":2},"layers":[]}`],
      ['__proto__ keys', `{"__proto__":{"schemaVersion":2},"constructor":{"prototype":{"x":1}},"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor(config, OCI_CONFIG))},"layers":[]}`],
      ['100k layers of an unknown blob', `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(descriptor(config, OCI_CONFIG))},"layers":[${Array.from({ length: 40_000 }, () => JSON.stringify(descriptor(layer, OCI_LAYER_GZIP)).replace(layer.digest, ZERO)).join(',')}]}`],
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"schemaVersion":2,"x":"'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from('"}')])],
    ];
    await unchanged(async () => {
      for (const [label, body] of bodies) {
        const res = await server.fetch(`/v2/${NAME}/manifests/hostile`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body });
        await expect4xx(res, label);
        const index = await server.fetch(`/v2/${NAME}/manifests/hostile`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body });
        await expect4xx(index, `${label} (as an index)`);
      }
      // Over 4 MiB, without a Content-Length (chunked): cut at the limit.
      const giant = new ReadableStream({
        start(controller) {
          const chunk = new Uint8Array(1024 * 1024).fill(0x20);
          for (let i = 0; i < 6; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const res = await server.fetch(`/v2/${NAME}/manifests/giant`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: giant }).catch((err: Error) => err);
      if (res instanceof Response) await expect4xx(res, 'giant chunked manifest');
      // And one that declares it up front.
      expectRaw4xxOrClosed(await rawRequest(server.baseUrl, head('PUT', `/v2/${NAME}/manifests/giant`, { host: 'x', authorization: auth, 'content-type': OCI_MANIFEST, 'content-length': 1e12 })), 'Content-Length 1e12');
    });
  });

  it('overlapping, negative, reversed and huge ranges on blob GET are 206, 200 or 416, never 5xx', async () => {
    await unchanged(async () => {
      const url = `/v2/${NAME}/blobs/${layer.digest}`;
      const cases: [string, number[]][] = [
        ['bytes=0-9', [206]],
        ['bytes=-10', [206]],
        ['bytes=990-', [206]],
        ['bytes=0-99999999999999999999999', [206, 416]],
        ['bytes=5-2', [416, 200]],
        ['bytes=-0', [416, 200]],
        ['bytes=-1-5', [416, 200]],
        ['bytes=--5', [416, 200]],
        ['bytes=1000-', [416]],
        ['bytes=99999999999999999999-', [416]],
        ['bytes=0-1,0-1,0-1', [200, 206, 416]],
        ['bytes=0-499,100-900', [200, 206, 416]],
        [`bytes=${Array.from({ length: 1000 }, (_, i) => `${i}-${i}`).join(',')}`, [200, 206, 416]],
        ['bytes=1e3-2e3', [416, 200]],
        ['bytes=0x10-0x20', [416, 200]],
        ['bytes= 0 - 9 ', [206, 416, 200]],
        ['items=0-9', [200]],
        ['bytes=', [416, 200]],
        ['bytes=NaN-Infinity', [416, 200]],
      ];
      for (const [range, allowed] of cases) {
        const res = await server.fetch(url, { headers: { range } });
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(allowed.includes(res.status), `${range.slice(0, 60)}: ${res.status} not in ${allowed}: ${body.toString().slice(0, 200)}`);
        if (res.status === 200) assert.ok(body.equals(layer.bytes), `${range.slice(0, 60)}: 200 is the whole blob`);
        if (res.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/1000$/.exec(res.headers.get('content-range') ?? '');
          assert.ok(m, `${range}: content-range ${res.headers.get('content-range')}`);
          assert.ok(body.equals(layer.bytes.subarray(Number(m[1]), Number(m[2]) + 1)), `${range}: exactly the bytes named`);
        }
        if (res.status === 416) assert.equal(res.headers.get('content-range'), 'bytes */1000');
      }
    });
  });

  it('PATCH without a session, to an unknown one, or with hostile Content-Range is a 4xx', async () => {
    await unchanged(async () => {
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'PATCH', body: 'x' }), 'PATCH the uploads endpoint');
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/00000000-0000-0000-0000-000000000000`, { method: 'PATCH', body: 'x' }), 'PATCH an unknown session');
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/..%2f..%2fberth.db`, { method: 'PATCH', body: 'x' }), 'PATCH a traversal id');
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/${'a'.repeat(900)}`, { method: 'PUT', body: 'x' }), 'PUT a long id');
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/00000000-0000-0000-0000-000000000000?digest=${ZERO}`, { method: 'PUT', body: 'x' }), 'PUT an unknown session');
      await expect4xx(await server.fetch(`/v2/${NAME}/blobs/uploads/00000000-0000-0000-0000-000000000000`, { method: 'DELETE' }), 'DELETE an unknown session');
    });
    // A session of this repo, used from another repo, or with hostile ranges.
    const start = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST' });
    const loc = relative(start.headers.get('location')!);
    const id = loc.split('/').pop()!;
    await unchanged(async () => {
      await expect4xx(await server.fetch(`/v2/demo/docker/other/blobs/uploads/${id}`, { method: 'PATCH', body: 'x' }), 'PATCH from another repo');
      for (const cr of ['5-2', '-1-5', '0-99999999999999999999', '1-1', 'bytes */*', '0-0,1-1', 'abc']) {
        await expect4xx(await server.fetch(loc, { method: 'PATCH', headers: { 'content-range': cr }, body: 'x' }), `Content-Range ${cr}`);
      }
    });
    assert.equal((await server.fetch(loc, { method: 'DELETE' })).status, 204);
  });

  it('SQL-injection strings and absurd values in n, last and name filters', async () => {
    await unchanged(async () => {
      const inject = ["' OR 1=1 --", "'; DROP TABLE tags; --", '" OR ""="', '%', '_', '\\', "x' UNION SELECT digest FROM blobs --", '\u0000', '😀'];
      for (const last of inject) {
        const q = encodeURIComponent(last);
        for (const path of [`/v2/_catalog?last=${q}`, `/v2/${NAME}/tags/list?last=${q}`, `/v2/_catalog?n=2&last=${q}`]) {
          const res = await server.fetch(path);
          const text = await res.text();
          assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `${path}: ${res.status} ${text}`);
          if (res.status === 200) assert.ok(!text.includes('sha256:'), `${path}: no rows leak: ${text}`);
        }
        const filter = await server.fetch(`/docker/api/repo/demo/docker?name=${q}`);
        const body = (await filter.json()) as { data?: { name: string }[] };
        assert.ok(filter.status === 200 || (filter.status >= 400 && filter.status < 500), `name filter ${last}: ${filter.status}`);
        if (filter.status === 200) assert.deepEqual(body.data, [], `name filter ${JSON.stringify(last)} matches nothing (taken literally)`);
      }
      for (const n of ['-1', '1e9', '0x10', '99999999999999999999', '1;DROP TABLE tags', 'NaN', '1.5', ' 1', "1' OR '1'='1"]) {
        for (const path of [`/v2/_catalog?n=${encodeURIComponent(n)}`, `/v2/${NAME}/tags/list?n=${encodeURIComponent(n)}`]) {
          await expect4xx(await server.fetch(path), `${path}`);
        }
      }
      // Absurd but valid: clamped.
      const big = await server.fetch(`/v2/${NAME}/tags/list?n=999999999`);
      assert.equal(big.status, 200);
      assert.deepEqual(((await big.json()) as { tags: string[] }).tags, ['v1']);
      for (const [k, v] of [['pageSize', '-1'], ['pageSize', '1e9'], ['pageNumber', "1' OR 1=1"], ['pageSize', '99999999999999999999']]) {
        const res = await server.fetch(`/docker/api/repo/demo/docker?${k}=${encodeURIComponent(v!)}`);
        await expect4xx(res, `${k}=${v}`);
      }
    });
  });

  it('huge headers are 431 and slow headers are cut by headersTimeout', async () => {
    await unchanged(async () => {
      const huge = await rawRequest(server.baseUrl, head('GET', '/v2/', { host: 'x', 'x-big': 'a'.repeat(64 * 1024) }));
      expectRaw4xxOrClosed(huge, 'a 64 KiB header');
      if (huge.status !== undefined) assert.equal(huge.status, 431);
      const many = await rawRequest(server.baseUrl, head('GET', '/v2/', Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`x-h${i}`, 'v']))));
      expectRaw4xxOrClosed(many, '3000 headers');
      // Slow loris: a header line every 200 ms, never finished; the server cuts it (1 s in this test).
      const parts = Array.from({ length: 100 }, (_, i) => `x-slow-${i}: y\r\n`);
      const slow = await rawRequest(server.baseUrl, `GET /v2/ HTTP/1.1\r\nhost: x\r\n`, { parts, delayMs: 200, timeoutMs: 15_000 });
      assert.ok(slow.closed, 'the slow-loris connection is closed by the server');
      if (slow.status !== undefined) assert.equal(slow.status, 408);
    });
  });

  it('a body shorter than its Content-Length, then a stall: the connection is cut and the upload lock released', async () => {
    const start = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST' });
    const loc = relative(start.headers.get('location')!);
    const stalled = await rawRequest(server.baseUrl, Buffer.concat([Buffer.from(head('PATCH', loc, { host: 'x', authorization: auth, 'content-type': 'application/octet-stream', 'content-length': 1000 })), Buffer.alloc(10, 1)]), { timeoutMs: 15_000 });
    assert.ok(stalled.closed, 'the stalled connection is closed by the server');
    assert.ok(stalled.status === undefined || (stalled.status >= 400 && stalled.status < 500), `no 5xx: ${stalled.raw.slice(0, 200)}`);
    // The session still works: its lock was released; the staged offset is whatever arrived.
    const status = await server.fetch(loc);
    assert.equal(status.status, 204);
    const offset = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1] ?? -1) + 1;
    assert.ok(offset === 0 || offset === 1 || offset === 10, `offset ${offset}`);
    const rest = Buffer.alloc(20 - offset, 2);
    const patch = await server.fetch(loc, { method: 'PATCH', headers: { 'content-range': `${offset}-${19}` }, body: rest });
    assert.equal(patch.status, 202, await patch.text());
    const expected = Buffer.concat([Buffer.alloc(offset, 1), rest]);
    const put = await server.fetch(`${loc}?digest=${sha256(expected)}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const got = Buffer.from(await (await server.fetch(`/v2/${NAME}/blobs/${sha256(expected)}`)).arrayBuffer());
    assert.ok(got.equals(expected));

    // The same for a monolithic POST and a manifest PUT: cut, nothing stored.
    await unchanged(async () => {
      for (const req of [
        head('POST', `/v2/${NAME}/blobs/uploads/?digest=${ZERO}`, { host: 'x', authorization: auth, 'content-length': 5000 }),
        head('PUT', `/v2/${NAME}/manifests/stalled`, { host: 'x', authorization: auth, 'content-type': OCI_MANIFEST, 'content-length': 5000 }),
      ]) {
        const res = await rawRequest(server.baseUrl, `${req}{"schemaVersion":`, { timeoutMs: 15_000 });
        assert.ok(res.closed, 'cut');
        assert.ok(res.status === undefined || (res.status >= 400 && res.status < 500), `no 5xx: ${res.raw.slice(0, 200)}`);
      }
      // Give the server a moment to run its cleanup of the monolithic upload's staging file.
      for (let i = 0; i < 50 && (await readdir(join(server.dataDir, 'uploads'))).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    });
  });

  it('concurrent PATCHes to one upload are serialised: the result is one order of them, never interleaved', async () => {
    const start = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST' });
    const loc = relative(start.headers.get('location')!);
    const chunks = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, i + 1));
    // Without Content-Range: each appends; all succeed in some order.
    const results = await Promise.all(chunks.map((c) => server.fetch(loc, { method: 'PATCH', body: c })));
    for (const r of results) assert.equal(r.status, 202, await r.text());
    const status = await server.fetch(loc);
    assert.equal(status.headers.get('range'), `0-${8 * 64 * 1024 - 1}`);
    // With the same Content-Range: exactly one wins, the others are 416.
    const offset = 8 * 64 * 1024;
    const ranged = await Promise.all(chunks.map((c) => server.fetch(loc, { method: 'PATCH', headers: { 'content-range': `${offset}-${offset + c.length - 1}` }, body: c })));
    const codes = ranged.map((r) => r.status).sort();
    assert.deepEqual(codes, [202, 416, 416, 416, 416, 416, 416, 416]);
    for (const r of ranged) await r.arrayBuffer();
    // The staged bytes are whole chunks: each 64 KiB run is one fill byte.
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(join(server.dataDir, 'uploads', loc.split('/').pop()!));
    assert.equal(bytes.length, 9 * 64 * 1024);
    for (let i = 0; i < 9; i++) {
      const run = bytes.subarray(i * 64 * 1024, (i + 1) * 64 * 1024);
      assert.ok(run.every((b) => b === run[0]), `chunk ${i} is not interleaved`);
    }
    const put = await server.fetch(`${loc}?digest=${sha256(bytes)}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
  });

  it('methods and bodies where none belong, and junk Content-Length', async () => {
    await unchanged(async () => {
      for (const [method, path] of [['TRACE', '/v2/'], ['PATCH', `/v2/${NAME}/manifests/v1`], ['POST', `/v2/${NAME}/blobs/${layer.digest}`], ['PUT', '/v2/_catalog']] as const) {
        expectRaw4xxOrClosed(await rawRequest(server.baseUrl, head(method, path, { host: 'x', authorization: auth, 'content-length': 0, connection: 'close' })), `${method} ${path}`);
      }
      for (const cl of ['-1', 'abc', '1, 2', '99999999999999999999999']) {
        expectRaw4xxOrClosed(await rawRequest(server.baseUrl, head('POST', `/v2/${NAME}/blobs/uploads/?digest=${ZERO}`, { host: 'x', authorization: auth, 'content-length': cl, connection: 'close' })), `Content-Length ${cl}`);
      }
      // Both Content-Length and Transfer-Encoding (request smuggling): refused by the parser.
      expectRaw4xxOrClosed(await rawRequest(server.baseUrl, `${head('POST', `/v2/${NAME}/blobs/uploads/`, { host: 'x', authorization: auth, 'content-length': 3, 'transfer-encoding': 'chunked' })}0\r\n\r\n`), 'CL + TE');
    });
  });

  it('management requests with a body are authenticated before the body is parsed or validated', async () => {
    // Another user than the admin the other tests sign in as: failures count towards a lockout.
    const bad = basic('mallory', 'not the password');
    const cases: [string, string][] = [
      ['POST', '/repository/api/project/create'],
      ['POST', '/auth/api/user/create'],
      ['PUT', '/repository/api/project/demo/members'],
      ['POST', `/docker/api/stage/demo/docker/app?tag=v1`],
    ];
    await unchanged(async () => {
      for (const [method, path] of cases) {
        const attempts = [['', '{not json'], ['', '{"unexpected": true}'], ['', 'x'.repeat(200_000)], [bad, '{not json']] as const;
        for (const [authorization, body] of attempts) {
          const res = await server.fetch(path, { method, headers: { authorization, 'content-type': 'application/json' }, body });
          assert.equal(res.status, 401, `${method} ${path} ${authorization ? 'wrong password' : 'anonymous'} ${body.slice(0, 16)}`);
          assert.equal(((await res.json()) as { code: number }).code, 250114);
        }
      }
      // A chunked body is announced too; the same with valid credentials reaches the parser.
      const chunked = await rawRequest(server.baseUrl, `${head('POST', '/repository/api/project/create', { host: 'x', 'content-type': 'application/json', 'transfer-encoding': 'chunked', connection: 'close' })}5\r\n{oops\r\n0\r\n\r\n`);
      assert.equal(chunked.status, 401);
      const parsed = await server.fetch('/repository/api/project/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      assert.equal(parsed.status, 400);
    });
  });

  it('a management JSON body of more than 100,000 values is refused before it is parsed; smaller ones are parsed as before', async () => {
    const create = (extra: string) =>
      server.fetch('/auth/api/user/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"userId":"valuesprobe","pwd":"a-long-password-1","junk":[${extra}]}` });
    // 200,001 empty arrays: about 600 KB, under the 1 MiB body limit.
    const refused = await create(Array(200_001).fill('[]').join(','));
    assert.equal(refused.status, 400);
    const body = (await refused.json()) as { code: number; message: string };
    assert.equal(body.code, 250105);
    assert.match(body.message, /more than 100000 JSON values/);
    assert.equal((await server.fetch('/auth/api/user/detail/valuesprobe')).status, 404);
    // Fastify's checks still apply: malformed JSON, a __proto__ key.
    assert.equal((await create('{')).status, 400);
    const poisoned = await server.fetch('/auth/api/user/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"valuesprobe","pwd":"a-long-password-1","__proto__":{"admin":true}}' });
    assert.equal(poisoned.status, 400);
    const created = await create(Array(1000).fill('[]').join(','));
    assert.equal(created.status, 200, await created.text());
    assert.equal((await server.fetch('/auth/api/user/detail/valuesprobe')).status, 200);
  });

  it('the data dir and database are as they were, apart from the blob the stall test completed', async () => {
    const now = JSON.parse(await snapshot(server)) as { rows: { uploads: unknown[]; manifests: unknown[]; tags: unknown[] } };
    const was = JSON.parse(before0) as typeof now;
    assert.deepEqual(now.rows.uploads, []);
    assert.deepEqual(now.rows.manifests, was.rows.manifests);
    assert.deepEqual(now.rows.tags, was.rows.tags);
  });
});
