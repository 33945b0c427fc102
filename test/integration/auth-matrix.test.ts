import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../support/oci-image-builder.ts';
import { basic, startTestServer, type TestServer } from '../support/test-server.ts';

/**
 * Every role against every action, on /v2 and on the management API. The expectations are the
 * policy of PRODUCT.md written down independently of the implementation.
 */

type Role = 'system-admin' | 'project-admin' | 'developer' | 'guest' | 'no-role' | 'service-developer' | 'anonymous';
type V2Action = 'pull' | 'push' | 'delete-tag' | 'delete-manifest' | 'catalog-lists-it';
type MgmtAction = 'list-members' | 'set-member' | 'project-audit' | 'list-users' | 'create-user' | 'global-audit' | 'own-token';

const ROLES: Role[] = ['system-admin', 'project-admin', 'developer', 'guest', 'no-role', 'service-developer', 'anonymous'];
const V2_ACTIONS: V2Action[] = ['pull', 'push', 'delete-tag', 'delete-manifest', 'catalog-lists-it'];
const MGMT_ACTIONS: MgmtAction[] = ['list-members', 'set-member', 'project-audit', 'list-users', 'create-user', 'global-audit', 'own-token'];

/** PRODUCT.md: admin all; project admin pull/push/delete; developer pull/push/delete tags; guest pull; public: anyone pulls. */
function v2Allowed(role: Role, action: V2Action, isPublic: boolean): boolean {
  const pulls = isPublic || ['system-admin', 'project-admin', 'developer', 'guest', 'service-developer'].includes(role);
  switch (action) {
    case 'pull':
      return pulls;
    case 'catalog-lists-it':
      return pulls && role !== 'anonymous';
    case 'push':
    case 'delete-tag':
      return ['system-admin', 'project-admin', 'developer', 'service-developer'].includes(role);
    case 'delete-manifest':
      return ['system-admin', 'project-admin'].includes(role);
  }
}

function mgmtAllowed(role: Role, action: MgmtAction): boolean {
  switch (action) {
    case 'list-members':
    case 'set-member':
    case 'project-audit':
      return role === 'system-admin' || role === 'project-admin';
    case 'list-users':
    case 'create-user':
    case 'global-audit':
      return role === 'system-admin';
    case 'own-token':
      return role !== 'anonymous' && role !== 'service-developer';
  }
}

const PASSWORDS: Record<string, string> = {
  padmin: 'padmin-password-1',
  dev: 'dev-password-1',
  guest: 'guest-password-1',
  nobody: 'nobody-password-1',
};
const USER_OF: Partial<Record<Role, string>> = { 'project-admin': 'padmin', developer: 'dev', guest: 'guest', 'no-role': 'nobody' };

describe('role x action matrix', () => {
  let server: TestServer;
  let platform = '';
  let counter = 0;

  const credentials = (role: Role): Record<string, string> => {
    if (role === 'anonymous') return { authorization: '' };
    if (role === 'system-admin') return { authorization: server.authorization };
    if (role === 'service-developer') return { authorization: platform };
    const user = USER_OF[role]!;
    return { authorization: basic(user, PASSWORDS[user]!) };
  };

  async function adminCall(path: string, method: string, body?: unknown): Promise<Response> {
    const res = await server.fetch(path, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
    return res;
  }

  async function pushAsAdmin(name: string): Promise<string> {
    const image = buildImage({ seed: name });
    for (const blob of [image.config, ...image.layers]) {
      const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: new Uint8Array(blob.bytes) });
      assert.equal(res.status, 201);
    }
    const res = await server.fetch(`/v2/${name}/manifests/v1`, { method: 'PUT', body: new Uint8Array(image.manifest), headers: { 'content-type': image.mediaType } });
    assert.equal(res.status, 201);
    return image.digest;
  }

  before(async () => {
    server = await startTestServer();
    await pushAsAdmin('demo/private/seed');
    await pushAsAdmin('demo/public/seed');
    assert.ok(await server.app.deps.metadata.projects.updateRepo('demo', 'public', { public: true }));
    for (const [user, password] of Object.entries(PASSWORDS)) await adminCall('/auth/api/user/create', 'POST', { userId: user, pwd: password });
    await adminCall('/repository/api/project/demo/members', 'PUT', { userId: 'padmin', role: 'admin' });
    await adminCall('/repository/api/project/demo/members', 'PUT', { userId: 'dev', role: 'developer' });
    await adminCall('/repository/api/project/demo/members', 'PUT', { userId: 'guest', role: 'guest' });
    const account = (await (await adminCall('/auth/api/account/create', 'POST', { appId: 'ci' })).json()) as { data: { accessKey: string; secretKey: string } };
    platform = `Platform ${Buffer.from(`${account.data.accessKey}:${account.data.secretKey}`).toString('base64')}`;
    await adminCall('/repository/api/project/demo/members', 'PUT', { userId: 'ci', role: 'developer' });
  });
  after(() => server.close());

  for (const mode of ['credentials', 'bearer token'] as const) {
    for (const isPublic of [false, true]) {
      for (const role of ROLES) {
        for (const action of V2_ACTIONS) {
          const allowed = v2Allowed(role, action, isPublic);
          it(`/v2 ${mode}: ${role} ${allowed ? 'may' : 'may not'} ${action} in a ${isPublic ? 'public' : 'private'} repo`, async () => {
            const name = `demo/${isPublic ? 'public' : 'private'}/m${++counter}`;
            const digest = await pushAsAdmin(name);
            let authorization = credentials(role).authorization!;
            if (mode === 'bearer token') {
              const scope = action === 'catalog-lists-it' ? 'registry:catalog:*' : `repository:${name}:pull,push,delete`;
              const res = await server.fetch(`/v2/auth?service=berth&scope=${encodeURIComponent(scope)}`, { headers: { authorization } });
              assert.equal(res.status, 200);
              authorization = `Bearer ${((await res.json()) as { token: string }).token}`;
            }
            const headers = { authorization };
            let res: Response;
            switch (action) {
              case 'pull':
                res = await server.fetch(`/v2/${name}/manifests/v1`, { headers });
                break;
              case 'push': {
                const blob = Buffer.from(`pushed by ${role}`);
                const { createHash } = await import('node:crypto');
                const d = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
                res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${d}`, { method: 'POST', body: new Uint8Array(blob), headers });
                break;
              }
              case 'delete-tag':
                res = await server.fetch(`/v2/${name}/manifests/v1`, { method: 'DELETE', headers });
                break;
              case 'delete-manifest':
                res = await server.fetch(`/v2/${name}/manifests/${digest}`, { method: 'DELETE', headers });
                break;
              case 'catalog-lists-it': {
                res = await server.fetch('/v2/_catalog?n=1000', { headers });
                if (res.status === 200) {
                  const listed = ((await res.json()) as { repositories: string[] }).repositories.includes(name);
                  assert.equal(listed, allowed, `catalog ${listed ? 'lists' : 'hides'} ${name}`);
                  return;
                }
                assert.equal(allowed, false);
                assert.equal(res.status, 401, 'only anonymous callers are refused the catalog itself');
                return;
              }
            }
            const expected = allowed ? [200, 201, 202] : role === 'anonymous' ? [401] : [403];
            assert.ok(expected.includes(res.status), `expected ${expected.join('/')}, got ${res.status}: ${await res.text()}`);
            if (res.status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
          });
        }
      }
    }
  }

  for (const role of ROLES) {
    for (const action of MGMT_ACTIONS) {
      const allowed = mgmtAllowed(role, action);
      it(`management: ${role} ${allowed ? 'may' : 'may not'} ${action}`, async () => {
        const n = ++counter;
        const headers = { ...credentials(role), 'content-type': 'application/json' };
        const own = USER_OF[role] ?? (role === 'system-admin' ? 'admin' : role === 'service-developer' ? 'ci' : 'nobody-at-all');
        const [method, path, body] = (
          {
            'list-members': ['GET', '/repository/api/project/demo/members', undefined],
            'set-member': ['PUT', '/repository/api/project/demo/members', { userId: 'nobody', role: 'guest' }],
            'project-audit': ['GET', '/auth/api/audit?projectId=demo', undefined],
            'list-users': ['GET', '/auth/api/user/list', undefined],
            'create-user': ['POST', '/auth/api/user/create', { userId: `made${n}`, pwd: 'made-password-1' }],
            'global-audit': ['GET', '/auth/api/audit', undefined],
            'own-token': ['POST', `/auth/api/user/token/${own}/t${n}`, {}],
          } as const
        )[action];
        const res = await server.fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
        const envelope = (await res.json()) as { code: number; message: string | null; traceId: string };
        assert.ok(envelope.traceId);
        if (allowed) {
          assert.equal(res.status, 200, envelope.message ?? '');
          assert.equal(envelope.code, 0);
        } else if (role === 'anonymous') {
          assert.equal(res.status, 401);
          assert.equal(envelope.code, 250114);
        } else {
          assert.equal(res.status, 403, envelope.message ?? '');
          assert.equal(envelope.code, 250113);
        }
        if (action === 'set-member' && allowed) {
          await adminCall('/repository/api/project/demo/members/nobody', 'DELETE');
        }
      });
    }
  }
});
