import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, writeOciLayout } from '../support/oci-image-builder.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { skopeo, skopeoOk } from '../support/skopeo.ts';

/** skopeo login, then copy through Berth's token flow, as a developer, a guest and with an access token. */
describe('skopeo login and copy through the token flow', () => {
  let server: ServerProcess;
  let work: string;
  let layout: string;
  const image = buildImage({ seed: 'auth-e2e' });

  async function mgmt(method: string, path: string, body: unknown): Promise<any> {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { code: number; data: unknown; message: string };
    assert.equal(res.status, 200, `${method} ${path}: ${json.message}`);
    return json.data;
  }

  const ref = (name: string) => `docker://${server.host}/${name}`;
  const authfile = (who: string) => join(work, `auth-${who}.json`);

  before(async () => {
    server = await startServerProcess();
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-auth-'));
    layout = join(work, 'layout');
    await writeOciLayout(layout, 'v1', image);
    // The admin creates the project by pushing, then the users and their roles.
    await skopeoOk(['copy', '--dest-creds', `admin:${server.adminPassword}`, '--dest-tls-verify=false', `oci:${layout}:v1`, ref('demo/docker/base:v1')]);
    await mgmt('POST', '/auth/api/user/create', { userId: 'dev', pwd: 'dev-password-e2e' });
    await mgmt('POST', '/auth/api/user/create', { userId: 'guest', pwd: 'guest-password-e2e' });
    await mgmt('PUT', '/repository/api/project/demo/members', { userId: 'dev', role: 'developer' });
    await mgmt('PUT', '/repository/api/project/demo/members', { userId: 'guest', role: 'guest' });
  });
  after(async () => {
    await server.dispose();
    await rm(work, { recursive: true, force: true });
  });

  it('logs a developer in, pushes and pulls with the stored credentials via bearer tokens', async () => {
    await skopeoOk(['login', '--tls-verify=false', '--authfile', authfile('dev'), '-u', 'dev', '-p', 'dev-password-e2e', server.host]);
    const stored = JSON.parse(await readFile(authfile('dev'), 'utf8')) as { auths: Record<string, unknown> };
    assert.ok(stored.auths[server.host], 'skopeo stored the login');
    const before = server.logs().length;
    await skopeoOk(['copy', '--authfile', authfile('dev'), '--dest-tls-verify=false', `oci:${layout}:v1`, ref('demo/docker/app:v1')]);
    const out = join(work, 'pulled');
    await skopeoOk(['copy', '--authfile', authfile('dev'), '--src-tls-verify=false', ref('demo/docker/app:v1'), `oci:${out}:v1`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, image.digest);
    const requests = server.logs().slice(before).filter((l) => l.msg === 'request') as unknown as { method: string; url: string; status: number }[];
    assert.ok(requests.some((r) => r.url === '/v2/auth' && r.status === 200), 'skopeo fetched tokens from the realm');
  });

  it('lets a guest pull but not push', async () => {
    await skopeoOk(['login', '--tls-verify=false', '--authfile', authfile('guest'), '-u', 'guest', '-p', 'guest-password-e2e', server.host]);
    await skopeoOk(['inspect', '--authfile', authfile('guest'), '--tls-verify=false', ref('demo/docker/base:v1')]);
    const push = await skopeo(['copy', '--authfile', authfile('guest'), '--dest-tls-verify=false', `oci:${layout}:v1`, ref('demo/docker/guest:v1')]);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /denied|unauthorized|authentication required/i);
  });

  it('accepts a personal access token as the password and refuses a wrong password at login', async () => {
    const token = (await mgmt('POST', '/auth/api/user/token/dev/e2e', {})) as { id: string };
    await skopeoOk(['login', '--tls-verify=false', '--authfile', authfile('pat'), '-u', 'dev', '-p', token.id, server.host]);
    await skopeoOk(['inspect', '--authfile', authfile('pat'), '--tls-verify=false', ref('demo/docker/app:v1')]);
    const wrong = await skopeo(['login', '--tls-verify=false', '--authfile', authfile('wrong'), '-u', 'dev', '-p', 'not-the-password', server.host]);
    assert.notEqual(wrong.code, 0);
  });
});
