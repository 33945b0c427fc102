import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../support/oci-image-builder.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';

describe('failed-login throttling', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ BERTH_LOGIN_FAILURE_LIMIT: '3' });
    for (const user of ['alice', 'bob']) {
      const res = await server.fetch('/auth/api/user/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: user, pwd: `${user}-password` }) });
      assert.equal(res.status, 200);
    }
    assert.equal((await server.fetch('/v2/')).status, 200, 'admin verified (and cached) before any lockout');
  });
  after(() => server.close());

  it('locks a user after the limit, even for the right password, with 429 and Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await server.fetch('/v2/', { headers: { authorization: basic('alice', `wrong-${i}`) } })).status, 401);
    }
    const locked = await server.fetch('/v2/', { headers: { authorization: basic('alice', 'alice-password') } });
    assert.equal(locked.status, 429);
    const retry = Number(locked.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 15 * 60, `Retry-After ${locked.headers.get('retry-after')}`);
    assert.equal(((await locked.json()) as { errors: { code: string }[] }).errors[0]!.code, 'TOOMANYREQUESTS');

    const token = await server.fetch('/v2/auth?service=berth', { headers: { authorization: basic('alice', 'alice-password') } });
    assert.equal(token.status, 429);
    const mgmt = await server.fetch('/auth/api/user/info', { headers: { authorization: basic('alice', 'alice-password') } });
    assert.equal(mgmt.status, 429);
    assert.ok(mgmt.headers.get('retry-after'));
    assert.equal(((await mgmt.json()) as { data: unknown }).data, null);

    assert.equal((await server.fetch('/v2/', { headers: { authorization: basic('bob', 'bob-password') } })).status, 200, 'other users are not locked');
  });

  it('locks an address after five times the limit of failures across names', async () => {
    for (let i = 0; i < 15; i++) {
      const res = await server.fetch('/v2/', { headers: { authorization: basic(`ghost${i}`, 'whatever') } });
      assert.ok(res.status === 401 || res.status === 429, String(res.status));
    }
    const res = await server.fetch('/auth/api/user/info', { headers: { authorization: basic('bob', 'bob-password-not-cached') } });
    assert.equal(res.status, 429);
    assert.equal((await server.fetch('/v2/')).status, 200, 'credentials verified before the lockout stay valid from the cache');
  });
});

describe('secrets never leak into logs or answers', () => {
  let server: ServerProcess;
  const bodies: { what: string; text: string; issues?: string }[] = [];
  const secrets: Record<string, string> = {};

  async function call(what: string, path: string, init: RequestInit & { headers?: Record<string, string> } = {}, issues?: string): Promise<{ status: number; json: any }> {
    const res = await fetch(`${server.url}${path}`, init);
    const text = await res.text();
    bodies.push({ what, text: `${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${text}`, ...(issues ? { issues } : {}) });
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  }

  before(async () => {
    server = await startServerProcess({ env: { BERTH_LOG_LEVEL: 'trace' } });
    secrets.admin = server.adminPassword!;
  });
  after(() => server.dispose());

  it('runs logins, failures, tokens and pushes, then finds none of the secrets where they do not belong', async () => {
    const admin = basic('admin', secrets.admin!);
    const json = (body: unknown) => ({ method: 'POST', headers: { authorization: admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    secrets.alice = 'alice-very-secret-password';
    assert.equal((await call('create user', '/auth/api/user/create', json({ userId: 'alice', pwd: secrets.alice }))).status, 200);
    secrets.wrong = 'alice-wrong-guess-password';
    assert.equal((await call('wrong password', '/v2/', { headers: { authorization: basic('alice', secrets.wrong) } })).status, 401);
    assert.equal((await call('wrong password mgmt', '/auth/api/user/info', { headers: { authorization: basic('alice', secrets.wrong) } })).status, 401);
    assert.equal((await call('wrong password token', '/v2/auth?service=berth', { headers: { authorization: basic('alice', secrets.wrong) } })).status, 401);

    const pat = await call('create token', '/auth/api/user/token/alice/laptop', { method: 'POST', headers: { authorization: basic('alice', secrets.alice) } }, 'pat');
    assert.equal(pat.status, 200);
    secrets.pat = pat.json.data.id;
    assert.equal((await call('use token', '/auth/api/user/info', { headers: { authorization: `Bearer ${secrets.pat}` } })).status, 200);
    assert.equal((await call('token as password', '/v2/', { headers: { authorization: basic('alice', secrets.pat!) } })).status, 200);
    assert.equal((await call('forged token', '/v2/', { headers: { authorization: basic('alice', `${secrets.pat!.slice(0, -6)}abcdef`) } })).status, 401);

    const offline = await call('offline token', '/v2/auth?service=berth&offline_token=true&client_id=docker', { headers: { authorization: basic('alice', secrets.alice) } }, 'refresh');
    secrets.refresh = offline.json.refresh_token;
    secrets.jwt = offline.json.token;
    assert.ok(secrets.refresh && secrets.jwt);

    const account = await call('create account', '/auth/api/account/create', json({ appId: 'ci' }), 'sk');
    secrets.sk = account.json.data.secretKey;
    const platform = `Platform ${Buffer.from(`${account.json.data.accessKey}:${secrets.sk}`).toString('base64')}`;
    assert.equal((await call('platform', '/auth/api/user/info', { headers: { authorization: platform, 'x-bkrepo-uid': 'alice' } })).status, 200);
    assert.equal((await call('platform wrong', '/auth/api/user/info', { headers: { authorization: `Platform ${Buffer.from(`${account.json.data.accessKey}:${secrets.wrong}`).toString('base64')}` } })).status, 401);

    const image = buildImage({ seed: 'secrets' });
    for (const blob of [image.config, ...image.layers]) {
      await call('push blob', `/v2/demo/docker/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: new Uint8Array(blob.bytes), headers: { authorization: admin } });
    }
    assert.equal((await call('push manifest', '/v2/demo/docker/app/manifests/v1', { method: 'PUT', body: new Uint8Array(image.manifest), headers: { authorization: admin, 'content-type': image.mediaType } })).status, 201);
    assert.equal((await call('password change', '/auth/api/user/alice/password', { method: 'PUT', headers: { authorization: admin, 'content-type': 'application/json' }, body: JSON.stringify({ newPwd: 'alice-next-password-9' }) })).status, 200);
    secrets.alice2 = 'alice-next-password-9';
    const audit = await call('audit', '/auth/api/audit?pageSize=1000', { headers: { authorization: admin } });
    assert.ok(audit.json.data.length >= 8, 'the audit log recorded the logins and changes');
    const actions = new Set(audit.json.data.map((e: { action: string }) => e.action));
    for (const a of ['login', 'login.failed', 'push', 'user.create', 'token.create', 'user.password', 'account.create']) assert.ok(actions.has(a), `audit has ${a}`);

    await server.stop();
    const logs = `${server.process.stdout()}\n${server.process.stderr()}`;
    assert.ok(logs.length > 1000, 'the server wrote logs to scan');
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(secret && secret.length >= 16, `secret ${name} is set`);
      assert.ok(!logs.includes(secret), `secret ${name} appears in the logs`);
      for (const body of bodies) {
        if (body.issues === name || (name === 'jwt' && body.issues === 'refresh')) continue;
        assert.ok(!body.text.includes(secret), `secret ${name} appears in the answer to "${body.what}"`);
      }
    }
  });
});
