/**
 * Blob upload bodies as streams: a client gone mid-body, and the paths that re-read staged bytes
 * to hash them (a running hash lost with a failed write; sha512, which has no running hash).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { relative, sha256, uniqueName } from '../support/oci-fixtures.ts';
import { head } from '../support/raw-http.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const sha512 = (bytes: Buffer) => `sha512:${createHash('sha512').update(bytes).digest('hex')}`;

describe('blob upload streams', () => {
  let server: TestServer;
  const name = uniqueName('streams');

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  async function startUpload(): Promise<string> {
    const res = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202);
    return relative(res.headers.get('location')!);
  }

  async function stagedOffset(loc: string): Promise<number> {
    const res = await server.fetch(loc);
    assert.equal(res.status, 204);
    return Number(/^0-(\d+)$/.exec(res.headers.get('range') ?? '')?.[1] ?? -1) + 1;
  }

  it('a client gone mid-PATCH leaves a prefix staged, and the session resumes to the right digest', async () => {
    const loc = await startUpload();
    const bytes = randomBytes(2 * 1024 * 1024);
    const sent = 700 * 1024;
    await new Promise<void>((resolve, reject) => {
      const { hostname, port } = new URL(server.baseUrl);
      const socket = connect({ host: hostname, port: Number(port) }, () => {
        socket.write(head('PATCH', loc, { host: 'x', authorization: server.authorization, 'content-type': 'application/octet-stream', 'content-length': bytes.length }));
        socket.write(bytes.subarray(0, sent), () => setTimeout(() => socket.resetAndDestroy(), 100));
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    // The failed write settles on its own; wait until the staged size stops moving.
    let offset = await stagedOffset(loc);
    for (let i = 0; i < 50; i++) {
      await sleep(50);
      const again = await stagedOffset(loc);
      if (again === offset) break;
      offset = again;
    }
    assert.ok(offset >= 0 && offset <= sent, `offset ${offset}`);
    const staged = await readFile(join(server.dataDir, 'uploads', loc.split('/').pop()!));
    assert.equal(staged.length, offset);
    assert.ok(staged.equals(bytes.subarray(0, offset)), 'the staged bytes are a prefix of what was sent');

    // The running hash was dropped with the failed write: finishing re-hashes the staged prefix.
    const put = await server.fetch(`${loc}?digest=${sha256(bytes)}`, {
      method: 'PUT',
      headers: { 'content-range': `${offset}-${bytes.length - 1}`, 'content-type': 'application/octet-stream' },
      body: bytes.subarray(offset),
    });
    assert.equal(put.status, 201, await put.text());
    const got = Buffer.from(await (await server.fetch(`/v2/${name}/blobs/${sha256(bytes)}`)).arrayBuffer());
    assert.ok(got.equals(bytes));
  });

  it('sha512 digests are verified against the staged bytes: chunked, monolithic, and a mismatch', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const loc = await startUpload();
    const half = 1024 * 1024;
    const patch = await server.fetch(loc, { method: 'PATCH', headers: { 'content-range': `0-${half - 1}` }, body: bytes.subarray(0, half) });
    assert.equal(patch.status, 202, await patch.text());
    const put = await server.fetch(`${loc}?digest=${sha512(bytes)}`, { method: 'PUT', headers: { 'content-range': `${half}-${bytes.length - 1}` }, body: bytes.subarray(half) });
    assert.equal(put.status, 201, await put.text());
    const got = Buffer.from(await (await server.fetch(`/v2/${name}/blobs/${sha512(bytes)}`)).arrayBuffer());
    assert.ok(got.equals(bytes));

    const small = randomBytes(4096);
    const mono = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${sha512(small)}`, { method: 'POST', body: small });
    assert.equal(mono.status, 201, await mono.text());

    const wrong = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${sha512(randomBytes(10))}`, { method: 'POST', body: small });
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DIGEST_INVALID');
  });
});
