import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { notFound } from '../../src/http/envelope.ts';
import { webPlugin } from '../../src/http/web/web-plugin.ts';
import { buildImage } from '../support/oci-image-builder.ts';
import { pushImage } from '../support/push-image.ts';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';

async function webApp(root: string): Promise<FastifyInstance> {
  const app = Fastify();
  app.setNotFoundHandler(notFound);
  await app.register(webPlugin, { root });
  return app;
}

describe('serving the web UI (src/http/web)', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-web-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('says how to build the UI when there is no build, and still answers', async () => {
    const app = await webApp(join(root, 'missing'));
    for (const url of ['/', '/p/demo/docker', '/login']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.headers['content-type'] as string, /text\/html/);
      assert.match(res.body, /npm run build/);
    }
    await app.close();
  });

  it('serves index.html for UI routes, hashed assets with long caching, and nothing outside the root', async () => {
    const dist = join(root, 'dist');
    await mkdir(join(dist, 'assets'), { recursive: true });
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>Berth UI</title>');
    await writeFile(join(dist, 'assets', 'index-abc.js'), 'console.log(1)');
    await writeFile(join(dist, 'favicon.svg'), '<svg/>');
    await writeFile(join(root, 'secret.txt'), 'outside');
    const app = await webApp(dist);
    for (const url of ['/', '/login', '/tokens', '/p/demo', '/p/demo/docker/team/app:1.0']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(res.body, /Berth UI/, url);
      assert.equal(res.headers['cache-control'], 'no-cache');
      assert.match(res.headers['content-security-policy'] as string, /default-src 'self'/);
    }
    const js = await app.inject({ url: '/assets/index-abc.js' });
    assert.equal(js.statusCode, 200);
    assert.match(js.headers['content-type'] as string, /text\/javascript/);
    assert.match(js.headers['cache-control'] as string, /immutable/);
    assert.equal((await app.inject({ url: '/favicon.svg' })).headers['content-type'], 'image/svg+xml');
    for (const url of ['/assets/../../secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/assets/nope.js', '/secret.txt', '/elsewhere']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.doesNotMatch(res.body, /outside/);
    }
    await app.close();
  });
});

describe('the web UI next to the registry and the APIs', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
    await pushImage(server, 'demo/docker/app', 'v1', buildImage({ seed: 'web-serving' }));
    await server.fetch('/auth/api/user/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'gus', pwd: 'gus-password-1' }) });
    await server.fetch('/repository/api/project/demo/members', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'gus', role: 'guest' }) });
  });
  after(() => server.close());

  it('never shadows /v2, the APIs or the health endpoints', async () => {
    assert.equal((await server.fetch('/v2/', { headers: { authorization: '' } })).status, 401);
    assert.equal((await server.fetch('/v2/')).status, 200);
    const api404 = await server.fetch('/docker/api/nope');
    assert.equal(api404.status, 404);
    assert.equal(((await api404.json()) as { code: number }).code, 250108);
    const auth404 = await server.fetch('/auth/api/nope');
    assert.equal(auth404.status, 404);
    assert.match(auth404.headers.get('content-type') ?? '', /json/);
    assert.equal((await server.fetch('/healthz')).status, 200);
    assert.equal((await server.fetch('/metrics')).headers.get('content-type')?.includes('text/html'), false);
    const ui = await server.fetch('/', { headers: { authorization: '' } });
    assert.equal(ui.status, 200);
    assert.match(ui.headers.get('content-type') ?? '', /text\/html/);
  });

  it('tells the caller what it may do in a project and a repo', async () => {
    type Perm = { userId: string; admin: boolean; manage: boolean; pull: boolean; push: boolean; delete: boolean; deleteTag: boolean };
    const read = async (path: string, authorization?: string) => {
      const res = await server.fetch(path, authorization !== undefined ? { headers: { authorization } } : {});
      return { status: res.status, body: (await res.json()) as { code: number; data: Perm } };
    };
    const admin = await read('/repository/api/permission/demo/docker');
    assert.deepEqual(admin.body.data, { userId: 'admin', admin: true, manage: true, pull: true, push: true, delete: true, deleteTag: true });
    const guest = await read('/repository/api/permission/demo/docker', basic('gus', 'gus-password-1'));
    assert.deepEqual(guest.body.data, { userId: 'gus', admin: false, manage: false, pull: true, push: false, delete: false, deleteTag: false });
    const guestProject = await read('/repository/api/permission/demo', basic('gus', 'gus-password-1'));
    assert.equal(guestProject.body.data.manage, false);
    const anonymous = await read('/repository/api/permission/demo/docker', '');
    assert.equal(anonymous.status, 200);
    assert.equal(anonymous.body.data.pull, false);
    const wrong = await read('/repository/api/permission/demo/docker', basic('gus', 'wrong-password'));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 250114);
  });
});
