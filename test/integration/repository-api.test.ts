import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../support/oci-image-builder.ts';
import { pushImage } from '../support/push-image.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

interface Envelope<T = unknown> {
  code: number;
  message: string | null;
  data: T;
  traceId: string;
}

const post = (server: TestServer, path: string, body: unknown, method = 'POST') =>
  server.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('project and repo management (/repository/api)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('creates, reads, lists and updates projects', async () => {
    const res = await post(server, '/repository/api/project/create', { name: 'team1', displayName: 'Team One', description: 'first' });
    assert.equal(res.status, 200);
    const created = (await res.json()) as Envelope<Record<string, unknown>>;
    assert.equal(created.code, 0);
    assert.equal(created.data.name, 'team1');
    assert.equal(created.data.displayName, 'Team One');
    assert.equal(created.data.createdBy, 'admin');
    assert.match(String(created.data.createdDate), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const dup = await post(server, '/repository/api/project/create', { name: 'team1' });
    assert.equal(dup.status, 409);
    for (const name of ['Team1', 'a'.repeat(33), '', '-x', 'a/b']) {
      const bad = await post(server, '/repository/api/project/create', { name });
      assert.equal(bad.status, 400, name);
      assert.equal(((await bad.json()) as Envelope).code, 250105);
    }
    const list = (await (await server.fetch('/repository/api/project/list')).json()) as Envelope<{ name: string }[]>;
    assert.ok(list.data.some((p) => p.name === 'team1'));
    const upd = await post(server, '/repository/api/project/update/team1', { description: 'changed' }, 'PUT');
    assert.equal(upd.status, 200);
    assert.equal(((await upd.json()) as Envelope<{ description: string }>).data.description, 'changed');
    const missing = await server.fetch('/repository/api/project/info/nope');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Envelope).code, 250108);
  });

  it('creates repos, makes one public, and refuses bad input', async () => {
    const res = await post(server, '/repository/api/repo/create', { projectId: 'team1', name: 'docker', type: 'DOCKER', public: false, description: 'images' });
    assert.equal(res.status, 200);
    const repo = ((await res.json()) as Envelope<Record<string, unknown>>).data;
    assert.deepEqual([repo.projectId, repo.name, repo.type, repo.public], ['team1', 'docker', 'DOCKER', false]);
    assert.equal((await post(server, '/repository/api/repo/create', { projectId: 'team1', name: 'docker' })).status, 409);
    assert.equal((await post(server, '/repository/api/repo/create', { projectId: 'nope', name: 'docker' })).status, 404);
    assert.equal((await post(server, '/repository/api/repo/create', { projectId: 'team1', name: 'x', type: 'MAVEN' })).status, 400);
    const pub = await post(server, '/repository/api/repo/update/team1/docker', { public: true });
    assert.equal(((await pub.json()) as Envelope<{ public: boolean }>).data.public, true);
    const list = (await (await server.fetch('/repository/api/repo/list/team1')).json()) as Envelope<{ name: string }[]>;
    assert.deepEqual(list.data.map((r) => r.name), ['docker']);
  });

  it('refuses to delete a repo or project holding images without force, and deletes with it', async () => {
    await pushImage(server, 'team1/docker/app', 'v1', buildImage({ seed: 'repo-api' }));
    const info = (await (await server.fetch('/repository/api/repo/info/team1/docker')).json()) as Envelope<{ imageCount: number }>;
    assert.equal(info.data.imageCount, 1);
    const refused = await server.fetch('/repository/api/repo/delete/team1/docker', { method: 'DELETE' });
    assert.equal(refused.status, 409);
    assert.match(((await refused.json()) as Envelope).message ?? '', /force/);
    assert.equal((await server.fetch('/v2/team1/docker/app/manifests/v1')).status, 200, 'nothing deleted by the refused call');
    const refusedProject = await server.fetch('/repository/api/project/delete/team1', { method: 'DELETE' });
    assert.equal(refusedProject.status, 409);
    const forced = await server.fetch('/repository/api/repo/delete/team1/docker?force=true', { method: 'DELETE' });
    assert.equal(forced.status, 200);
    assert.equal((await server.fetch('/v2/team1/docker/app/manifests/v1')).status, 404);
    const gone = await server.fetch('/repository/api/project/delete/team1', { method: 'DELETE' });
    assert.equal(gone.status, 200);
    assert.equal((await server.fetch('/repository/api/project/info/team1')).status, 404);
    const audit = (await (await server.fetch('/auth/api/audit?action=repo.delete')).json()) as Envelope<{ actor: string; target: string; detail: string }[]>;
    assert.ok(audit.data.some((e) => e.actor === 'admin' && e.target === 'team1/docker' && e.detail.includes('force=true')), JSON.stringify(audit.data));
  });

  it('needs credentials', async () => {
    const res = await server.fetch('/repository/api/project/list', { headers: { authorization: '' } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as Envelope).code, 250114);
  });
});
