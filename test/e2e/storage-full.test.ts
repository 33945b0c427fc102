/**
 * A data dir with no room left (a 6 MiB tmpfs; mounting needs root, as CI runs, else skipped):
 * a push that does not fit answers 507 INSUFFICIENT_STORAGE, leaves nothing behind, and the
 * server goes on serving what fits.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { basicAuth, type ServerProcess, startServerProcess } from '../support/server-process.ts';

const mountPoint = mkdtempSync(join(tmpdir(), 'berth-e2e-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  // not root, or no mount in this sandbox
}

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('a full data dir', { skip: mounted ? false : 'cannot mount a tmpfs here (needs root)', timeout: 120_000 }, () => {
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop();
    if (mounted) execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers 507 to a push that does not fit, keeps nothing of it, and takes one that fits', async () => {
    server = await startServerProcess({ dataDir: join(mountPoint, 'data') });
    const auth = { authorization: basicAuth('admin', server.adminPassword!) };
    const push = (bytes: Buffer) =>
      fetch(`${server!.url}/v2/demo/docker/full/blobs/uploads/?digest=${digestOf(bytes)}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) });

    const big = randomBytes(8 * 1024 * 1024);
    const refused = await push(big);
    assert.equal(refused.status, 507);
    assert.equal(((await refused.json()) as { errors: { code: string }[] }).errors[0]!.code, 'INSUFFICIENT_STORAGE');
    assert.deepEqual(readdirSync(join(mountPoint, 'data', 'uploads')), [], 'the failed upload left nothing');
    assert.equal((await fetch(`${server.url}/v2/demo/docker/full/blobs/${digestOf(big)}`, { method: 'HEAD', headers: auth })).status, 404);

    const small = randomBytes(256 * 1024);
    assert.equal((await push(small)).status, 201);
    const back = await fetch(`${server.url}/v2/demo/docker/full/blobs/${digestOf(small)}`, { headers: auth });
    assert.deepEqual(Buffer.from(await back.arrayBuffer()), small);
  });
});
