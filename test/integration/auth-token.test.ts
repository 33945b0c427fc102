import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { TokenService } from '../../src/auth/token-service.ts';
import { buildImage } from '../support/oci-image-builder.ts';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';

const NAME = 'demo/docker/app';
const ALICE = { user: 'alice', password: 'alice-secret-pw' };

async function token(server: TestServer, query: string, authorization = server.authorization): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await server.fetch(`/v2/auth?${query}`, { headers: { authorization } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const bearer = (t: unknown) => `Bearer ${String(t)}`;

/** Pushes a small image with whatever credentials `authorization` carries. */
async function push(server: TestServer, authorization: string, name = NAME, tag = 'v1'): Promise<number> {
  const image = buildImage({ seed: `${name}:${tag}` });
  for (const blob of [image.config, ...image.layers]) {
    const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: new Uint8Array(blob.bytes), headers: { authorization } });
    if (res.status !== 201) return res.status;
  }
  const res = await server.fetch(`/v2/${name}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(image.manifest), headers: { authorization, 'content-type': image.mediaType } });
  return res.status;
}

describe('Docker token auth over raw HTTP', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
    assert.equal(await push(server, server.authorization), 201);
    const created = await server.fetch('/v2/auth'); // warm-up: admin Basic
    assert.equal(created.status, 200);
  });
  after(() => server.close());

  it('challenges anonymous /v2 requests with a Bearer realm, service and scope', async () => {
    const base = await server.fetch('/v2/', { headers: { authorization: '' } });
    assert.equal(base.status, 401);
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="${server.baseUrl}/v2/auth",service="berth"`);
    const manifest = await server.fetch(`/v2/${NAME}/manifests/v1`, { headers: { authorization: '' } });
    assert.equal(manifest.status, 401);
    assert.equal(manifest.headers.get('www-authenticate'), `Bearer realm="${server.baseUrl}/v2/auth",service="berth",scope="repository:${NAME}:pull"`);
    const upload = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST', headers: { authorization: '' } });
    assert.match(upload.headers.get('www-authenticate') ?? '', /scope="repository:demo\/docker\/app:pull,push"/);
  });

  it('issues a signed JWT with the Docker claims and the requested grants', async () => {
    const { status, body } = await token(server, `service=berth&scope=repository:${NAME}:pull,push&scope=registry:catalog:*`);
    assert.equal(status, 200);
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 3600);
    assert.ok(!Number.isNaN(Date.parse(String(body.issued_at))));
    const header = decodeProtectedHeader(String(body.token));
    assert.equal(header.alg, 'ES256');
    assert.ok(header.kid);
    const claims = decodeJwt(String(body.token));
    assert.equal(claims.iss, 'berth');
    assert.equal(claims.sub, 'admin');
    assert.equal(claims.aud, 'berth');
    assert.equal(claims.exp! - claims.iat!, 3600);
    assert.equal(claims.nbf, claims.iat);
    assert.ok(typeof claims.jti === 'string' && claims.jti.length > 10);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: NAME, actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('follows challenge -> /v2/auth -> Bearer for a push and a pull', async () => {
    const challenge = await server.fetch(`/v2/demo/docker/other/blobs/uploads/`, { method: 'POST', headers: { authorization: '' } });
    const m = /realm="([^"]+)",service="([^"]+)",scope="([^"]+)"/.exec(challenge.headers.get('www-authenticate') ?? '');
    assert.ok(m, 'challenge has realm, service and scope');
    const res = await fetch(`${m[1]}?service=${m[2]}&scope=${encodeURIComponent(m[3]!)}`, { headers: { authorization: server.authorization } });
    const { token: jwt } = (await res.json()) as { token: string };
    assert.equal((await server.fetch('/v2/', { headers: { authorization: bearer(jwt) } })).status, 200);
    assert.equal(await push(server, bearer(jwt), 'demo/docker/other', 'v1'), 201);
    const pulled = await server.fetch('/v2/demo/docker/other/manifests/v1', { headers: { authorization: bearer(jwt) } });
    assert.equal(pulled.status, 200);
  });

  it('enforces the grants of a bearer token: a pull token cannot push', async () => {
    const { body } = await token(server, `service=berth&scope=repository:${NAME}:pull`);
    assert.equal((await server.fetch(`/v2/${NAME}/manifests/v1`, { headers: { authorization: bearer(body.token) } })).status, 200);
    const res = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST', headers: { authorization: bearer(body.token) } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    const other = await server.fetch(`/v2/demo/docker/other/manifests/v1`, { headers: { authorization: bearer(body.token) } });
    assert.equal(other.status, 401, 'a token for one repository does not open another');
    const catalog = await server.fetch('/v2/_catalog', { headers: { authorization: bearer(body.token) } });
    assert.equal(catalog.status, 401, 'no registry:catalog:* grant');
  });

  it('gives a valid user without rights a token with empty grants, and rejects wrong passwords', async () => {
    await server.app.deps.metadata.auth.users.create({
      name: ALICE.user,
      passwordHash: await (await import('../../src/auth/passwords.ts')).hashPassword(ALICE.password),
      admin: false,
      disabled: false,
      createdAt: Date.now(),
    });
    const { status, body } = await token(server, `service=berth&scope=repository:${NAME}:pull,push`, basic(ALICE.user, ALICE.password));
    assert.equal(status, 200);
    assert.deepEqual(decodeJwt(String(body.token)).access, []);
    assert.equal((await server.fetch(`/v2/${NAME}/manifests/v1`, { headers: { authorization: bearer(body.token) } })).status, 403);
    const wrong = await token(server, `service=berth&scope=repository:${NAME}:pull`, basic(ALICE.user, 'not-the-password'));
    assert.equal(wrong.status, 401);
  });

  it('issues anonymous tokens: nothing for a private repo, pull for a public one', async () => {
    const before = await token(server, `service=berth&scope=repository:${NAME}:pull,push`, '');
    assert.equal(before.status, 200);
    const claims = decodeJwt(String(before.body.token));
    assert.equal(claims.sub, '');
    assert.deepEqual(claims.access, []);
    assert.ok(await server.app.deps.metadata.projects.updateRepo('demo', 'docker', { public: true }));
    const after = await token(server, `service=berth&scope=repository:${NAME}:pull,push`, '');
    assert.deepEqual(decodeJwt(String(after.body.token)).access, [{ type: 'repository', name: NAME, actions: ['pull'] }]);
    assert.equal((await server.fetch(`/v2/${NAME}/manifests/v1`, { headers: { authorization: bearer(after.body.token) } })).status, 200);
    assert.equal((await server.fetch(`/v2/${NAME}/manifests/v1`, { headers: { authorization: '' } })).status, 200, 'public pull without any token');
    const put = await server.fetch(`/v2/${NAME}/blobs/uploads/`, { method: 'POST', headers: { authorization: bearer(after.body.token) } });
    assert.equal(put.status, 401);
    assert.ok(await server.app.deps.metadata.projects.updateRepo('demo', 'docker', { public: false }));
  });

  it('rejects expired, tampered, foreign-key and alg:none tokens', async () => {
    const keys = server.app.deps.metadata.auth.keys;
    const access = [{ type: 'repository', name: NAME, actions: ['pull'] }];
    const url = `/v2/${NAME}/manifests/v1`;
    const past = await TokenService.open(keys, { service: 'berth', issuer: 'berth', ttlSeconds: 3600, now: () => Date.now() - 2 * 3600_000 });
    const expired = await past.issue('admin', access);
    const res = await server.fetch(url, { headers: { authorization: bearer(expired.token) } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

    const { body } = await token(server, `service=berth&scope=repository:${NAME}:pull`);
    const [h, p, sig] = String(body.token).split('.') as [string, string, string];
    assert.equal((await server.fetch(url, { headers: { authorization: bearer(body.token) } })).status, 200, 'the untouched token works');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    payload.access = [{ type: 'repository', name: NAME, actions: ['pull', 'push', 'delete'] }];
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;
    assert.equal((await server.fetch(url, { headers: { authorization: bearer(tampered) } })).status, 401);

    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    assert.equal((await server.fetch(url, { headers: { authorization: bearer(none) } })).status, 401);

    const foreign = await generateKeyPair('ES256');
    const kid = decodeProtectedHeader(String(body.token)).kid!;
    const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(foreign.privateKey);
    assert.equal((await server.fetch(url, { headers: { authorization: bearer(forged) } })).status, 401);
    const hs = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(JSON.stringify(await exportJWK(foreign.publicKey))));
    assert.equal((await server.fetch(url, { headers: { authorization: bearer(hs) } })).status, 401);
  });

  it('keeps the signing key across restarts of the same data dir', async () => {
    const keys = await server.app.deps.metadata.auth.keys.list();
    assert.equal(keys.length, 1);
    const again = await TokenService.open(server.app.deps.metadata.auth.keys, { service: 'berth', issuer: 'berth', ttlSeconds: 60 });
    const issued = await again.issue('admin', [{ type: 'repository', name: NAME, actions: ['pull'] }]);
    assert.equal((await server.app.deps.metadata.auth.keys.list()).length, 1);
    assert.equal((await server.fetch(`/v2/${NAME}/manifests/v1`, { headers: { authorization: bearer(issued.token) } })).status, 200);
  });

  it('hands out refresh tokens for docker login and honours them until the password changes', async () => {
    const offline = await token(server, `service=berth&offline_token=true&client_id=docker&account=${ALICE.user}`, basic(ALICE.user, ALICE.password));
    assert.equal(offline.status, 200);
    assert.match(String(offline.body.refresh_token), /^brft_/);

    const form = (fields: Record<string, string>) => server.fetch('/v2/auth', {
      method: 'POST',
      headers: { authorization: '', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const pw = await form({ grant_type: 'password', username: ALICE.user, password: ALICE.password, client_id: 'docker', access_type: 'offline', service: 'berth', scope: `repository:${NAME}:pull` });
    assert.equal(pw.status, 200);
    const pwBody = (await pw.json()) as Record<string, unknown>;
    assert.match(String(pwBody.refresh_token), /^brft_/);
    assert.equal(typeof pwBody.access_token, 'string');

    const refreshed = await form({ grant_type: 'refresh_token', refresh_token: String(pwBody.refresh_token), client_id: 'docker', service: 'berth', scope: `repository:${NAME}:pull` });
    assert.equal(refreshed.status, 200);
    assert.equal(decodeJwt(String(((await refreshed.json()) as Record<string, unknown>).access_token)).sub, ALICE.user);

    const bad = await form({ grant_type: 'refresh_token', refresh_token: `${String(pwBody.refresh_token).slice(0, -4)}AAAA`, client_id: 'docker', service: 'berth' });
    assert.equal(bad.status, 401);
    const noClient = await form({ grant_type: 'password', username: ALICE.user, password: ALICE.password });
    assert.equal(noClient.status, 400);

    const changed = await server.fetch(`/auth/api/user/${ALICE.user}/password`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ newPwd: 'alice-new-password' }),
    });
    assert.equal(changed.status, 200, await changed.text());
    const after = await form({ grant_type: 'refresh_token', refresh_token: String(pwBody.refresh_token), client_id: 'docker', service: 'berth' });
    assert.equal(after.status, 401, 'refresh tokens die with the old password');
  });
});

describe('token realm with BERTH_BASE_URL', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ BERTH_BASE_URL: 'https://registry.example.com/' });
  });
  after(() => server.close());

  it('uses the configured base URL in the realm', async () => {
    const res = await server.fetch('/v2/', { headers: { authorization: '' } });
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="https://registry.example.com/v2/auth",service="berth"');
  });
});
