import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../support/oci-image-builder.ts';
import { REPO_ROOT, startServerProcess, type ServerProcess } from '../support/server-process.ts';

/** `berth user|token|project` against the data dir while the server is stopped, checked by a server started on it afterwards. */
describe('operator CLI on a stopped server', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;

  function berth(args: string[], input = ''): { code: number | null; stdout: string; stderr: string } {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) if (key.startsWith('BERTH_')) delete env[key];
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args, '-d', dataDir], { cwd: REPO_ROOT, input, env, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

  async function start(): Promise<ServerProcess> {
    server = await startServerProcess({ dataDir });
    return server;
  }

  async function stop(): Promise<void> {
    await server?.stop();
    server = undefined;
  }

  async function pushBlob(s: ServerProcess, authorization: string, name: string, seed: string): Promise<number> {
    const image = buildImage({ seed });
    const blob = image.layers[0]!;
    const res = await fetch(`${s.url}/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: new Uint8Array(blob.bytes), headers: { authorization } });
    return res.status;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-e2e-cli-'));
    const s = await start();
    assert.equal(await pushBlob(s, basic('admin', s.adminPassword!), 'demo/docker/seed', 'seed'), 201, 'the admin creates project demo by pushing');
    await stop();
  });
  after(async () => {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('adds a user and a member, creates a token; the restarted server honours them', async () => {
    const add = berth(['user', 'add', 'carol', '--password-stdin'], 'carol-password-1\n');
    assert.equal(add.code, 0, add.stderr);
    assert.ok(!add.stdout.includes('carol-password-1'), 'a password from stdin is not echoed');
    const member = berth(['project', 'add-member', 'demo', 'carol', 'developer']);
    assert.equal(member.code, 0, member.stderr);
    const token = berth(['token', 'create', 'carol', 'ci', '--expires-in-days', '30']);
    assert.equal(token.code, 0, token.stderr);
    const pat = token.stdout.trim();
    assert.match(pat, /^bpat_/);
    const dup = berth(['user', 'add', 'carol', '--password-stdin'], 'other-password-1\n');
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
    const badRole = berth(['project', 'add-member', 'demo', 'carol', 'owner']);
    assert.equal(badRole.code, 1);

    const s = await start();
    assert.equal(await pushBlob(s, basic('carol', 'carol-password-1'), 'demo/docker/carol', 'c1'), 201);
    assert.equal(await pushBlob(s, basic('carol', pat), 'demo/docker/carol', 'c2'), 201, 'the token works as a password');
    assert.equal(await pushBlob(s, `Bearer ${pat}`, 'demo/docker/carol', 'c3'), 201, 'and as a bearer token');
    await stop();
  });

  it('changes the password, disables the user and revokes the token', async () => {
    const passwd = berth(['user', 'passwd', 'carol', '--password-stdin'], 'carol-password-2\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    const token = berth(['token', 'create', 'carol', 'short']).stdout.trim();
    assert.equal(berth(['token', 'revoke', 'carol', 'short']).code, 0);
    let s = await start();
    assert.equal(await pushBlob(s, basic('carol', 'carol-password-1'), 'demo/docker/carol', 'd1'), 401, 'old password refused');
    assert.equal(await pushBlob(s, basic('carol', 'carol-password-2'), 'demo/docker/carol', 'd2'), 201);
    assert.equal(await pushBlob(s, basic('carol', token), 'demo/docker/carol', 'd3'), 401, 'revoked token refused');
    await stop();

    assert.equal(berth(['user', 'disable', 'carol']).code, 0);
    s = await start();
    assert.equal(await pushBlob(s, basic('carol', 'carol-password-2'), 'demo/docker/carol', 'd4'), 401, 'disabled user refused');
    await stop();
    assert.equal(berth(['user', 'disable', 'nobody']).code, 1);
  });
});
