import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../../auth/auth-admin.ts';
import { isAuthenticated, type Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../domain/errors.ts';
import { authenticateBeforeBody, principalOf } from '../access.ts';
import { envelopeError, ok } from '../envelope.ts';
import type { HttpServices } from '../services.ts';

type Body = Record<string, unknown>;

function str(body: Body, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const v = body[key];
    if (typeof v === 'string') return v;
  }
  return undefined;
}

function required(body: Body, ...keys: string[]): string {
  const v = str(body, ...keys);
  if (v === undefined || v === '') throw new RegistryError('PARAMETER_INVALID', `${keys[0]} is required`);
  return v;
}

/** `expiredAt`: ISO date, epoch milliseconds, or absent/empty for a token that never expires. */
function parseExpiry(value: unknown): number | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'number' || /^\d+$/.test(String(value))) return Number(value);
  const t = Date.parse(String(value));
  if (Number.isNaN(t)) throw new RegistryError('PARAMETER_INVALID', 'expiredAt must be an ISO date or epoch milliseconds');
  return t;
}

function pageOf(query: Record<string, string | undefined>): { offset: number; limit: number } {
  const number = Math.max(1, Number.parseInt(query.pageNumber ?? '1', 10) || 1);
  const size = Math.min(1000, Math.max(1, Number.parseInt(query.pageSize ?? '20', 10) || 20));
  return { offset: (number - 1) * size, limit: size };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The management API for accounts and permissions, in the envelope, bk-repo style paths:
 * users and their access tokens, service accounts and the audit log under `/auth/api`, project
 * members under `/repository/api/project/{projectId}/members`. Accepts Basic, Bearer (JWT or access
 * token) and `Platform` credentials; 401 + 250114 without them, 403 + 250113 when not allowed.
 */
export async function adminPlugin(app: FastifyInstance, opts: { services: HttpServices }): Promise<void> {
  const s = opts.services;
  const admin = s.auth.admin;
  app.setErrorHandler((err, req, reply) => envelopeError(err, req, reply));
  authenticateBeforeBody(app, s);

  async function caller(req: FastifyRequest): Promise<Principal> {
    const principal = await principalOf(s, req);
    if (!isAuthenticated(principal)) throw new RegistryError('UNAUTHORIZED', 'authentication required');
    return principal;
  }

  const actor = (p: Principal, req: FastifyRequest): Actor => ({ name: p.name, ip: req.ip });

  async function denied(p: Principal, req: FastifyRequest, what: string): Promise<never> {
    await s.auth.audit.record({ actor: p.name, action: 'denied', target: what, ip: req.ip, detail: `${req.method} ${req.url.split('?', 1)[0]}`, project: null });
    throw new RegistryError('DENIED', `${p.name} may not ${what}`);
  }

  async function requireSystemAdmin(req: FastifyRequest, what: string): Promise<Principal> {
    const p = await caller(req);
    if (!p.admin) await denied(p, req, what);
    return p;
  }

  /** The user themself (a real user, not a service account) or a system admin. */
  async function requireSelfOrAdmin(req: FastifyRequest, user: string, what: string): Promise<Principal> {
    const p = await caller(req);
    if (!p.admin && !(p.kind !== 'service' && p.name === user)) await denied(p, req, what);
    return p;
  }

  async function requireProjectManager(req: FastifyRequest, project: string): Promise<Principal> {
    const p = await caller(req);
    if (!(await s.authorizer.mayManageProject(p, project))) await denied(p, req, `manage project ${project}`);
    return p;
  }

  const send = <T>(req: FastifyRequest, reply: FastifyReply, data: T) => ok(req, reply, data);

  // ---- users ----
  app.get('/auth/api/user/info', async (req, reply) => {
    const p = await caller(req);
    return send(req, reply, { userId: p.name, admin: p.admin, type: p.kind ?? 'user' });
  });

  app.get('/auth/api/user/list', async (req, reply) => {
    await requireSystemAdmin(req, 'list users');
    return send(req, reply, (await admin.listUsers()).map((u) => ({ ...u, createdDate: iso(u.createdDate) })));
  });

  app.post('/auth/api/user/create', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'create users');
    const body = (req.body ?? {}) as Body;
    const user = await admin.createUser(actor(p, req), { name: required(body, 'userId', 'name'), password: required(body, 'pwd', 'password'), admin: body.admin === true });
    return send(req, reply, { ...user, createdDate: iso(user.createdDate) });
  });

  app.get<{ Params: { uid: string } }>('/auth/api/user/detail/:uid', async (req, reply) => {
    await requireSelfOrAdmin(req, req.params.uid, `read user ${req.params.uid}`);
    const user = await admin.getUser(req.params.uid);
    return send(req, reply, { ...user, createdDate: iso(user.createdDate) });
  });

  app.put<{ Params: { uid: string } }>('/auth/api/user/:uid/password', async (req, reply) => {
    const p = await requireSelfOrAdmin(req, req.params.uid, `change the password of ${req.params.uid}`);
    const body = (req.body ?? {}) as Body;
    const newPassword = required(body, 'newPwd', 'password');
    if (!p.admin && !(await admin.passwordMatches(p.name, str(body, 'oldPwd', 'oldPassword') ?? ''))) {
      // Users changing their own password prove they know the old one (a stolen token is not enough).
      throw new RegistryError('PARAMETER_INVALID', 'the old password is wrong');
    }
    await admin.changePassword(actor(p, req), req.params.uid, newPassword);
    return send(req, reply, true);
  });

  app.put<{ Params: { uid: string } }>('/auth/api/user/:uid/disable', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'disable users');
    await admin.setDisabled(actor(p, req), req.params.uid, true);
    return send(req, reply, true);
  });

  app.put<{ Params: { uid: string } }>('/auth/api/user/:uid/enable', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'enable users');
    await admin.setDisabled(actor(p, req), req.params.uid, false);
    return send(req, reply, true);
  });

  app.put<{ Params: { uid: string } }>('/auth/api/user/:uid/admin', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'change admin rights');
    const body = (req.body ?? {}) as Body;
    if (typeof body.admin !== 'boolean') throw new RegistryError('PARAMETER_INVALID', 'admin must be true or false');
    await admin.setAdmin(actor(p, req), req.params.uid, body.admin);
    return send(req, reply, true);
  });

  app.delete<{ Params: { uid: string } }>('/auth/api/user/:uid', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'delete users');
    await admin.deleteUser(actor(p, req), req.params.uid);
    return send(req, reply, true);
  });

  // ---- personal access tokens ----
  app.post<{ Params: { uid: string; name: string }; Querystring: { expiredAt?: string } }>('/auth/api/user/token/:uid/:name', async (req, reply) => {
    const p = await requireSelfOrAdmin(req, req.params.uid, `create tokens for ${req.params.uid}`);
    const body = (req.body ?? {}) as Body;
    const created = await admin.createToken(actor(p, req), req.params.uid, req.params.name, parseExpiry(req.query.expiredAt ?? body.expiredAt));
    reply.header('cache-control', 'no-store');
    return send(req, reply, { ...created, createdAt: iso(created.createdAt), expiredAt: iso(created.expiredAt) });
  });

  app.get<{ Params: { uid: string } }>('/auth/api/user/list/token/:uid', async (req, reply) => {
    await requireSelfOrAdmin(req, req.params.uid, `list tokens of ${req.params.uid}`);
    return send(req, reply, (await admin.listTokens(req.params.uid)).map((t) => ({ ...t, createdAt: iso(t.createdAt), expiredAt: iso(t.expiredAt) })));
  });

  app.delete<{ Params: { uid: string; name: string } }>('/auth/api/user/token/:uid/:name', async (req, reply) => {
    const p = await requireSelfOrAdmin(req, req.params.uid, `revoke tokens of ${req.params.uid}`);
    await admin.revokeToken(actor(p, req), req.params.uid, req.params.name);
    return send(req, reply, true);
  });

  // ---- service accounts ----
  app.post('/auth/api/account/create', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'create service accounts');
    const body = (req.body ?? {}) as Body;
    const account = await admin.createServiceAccount(actor(p, req), required(body, 'appId', 'name'), str(body, 'description') ?? '');
    reply.header('cache-control', 'no-store');
    return send(req, reply, { ...account, createdDate: iso(account.createdDate) });
  });

  app.get('/auth/api/account/list', async (req, reply) => {
    await requireSystemAdmin(req, 'list service accounts');
    return send(req, reply, (await admin.listServiceAccounts()).map((a) => ({ ...a, createdDate: iso(a.createdDate) })));
  });

  app.delete<{ Params: { appId: string } }>('/auth/api/account/delete/:appId', async (req, reply) => {
    const p = await requireSystemAdmin(req, 'delete service accounts');
    await admin.deleteServiceAccount(actor(p, req), req.params.appId);
    return send(req, reply, true);
  });

  // ---- audit log ----
  app.get<{ Querystring: Record<string, string | undefined> }>('/auth/api/audit', async (req, reply) => {
    const project = req.query.projectId || undefined;
    const p = await caller(req);
    if (!p.admin && !(project !== undefined && (await s.authorizer.mayManageProject(p, project)))) {
      await denied(p, req, project === undefined ? 'read the audit log' : `read the audit log of ${project}`);
    }
    const result = await admin.readAudit({
      ...pageOf(req.query),
      ...(project !== undefined ? { project } : {}),
      ...(req.query.userId ? { actor: req.query.userId } : {}),
      ...(req.query.action ? { action: req.query.action } : {}),
    });
    reply.header('x-total-count', String(result.total));
    return send(req, reply, result.items.map((e) => ({ ...e, at: iso(e.at) })));
  });

  // ---- project members ----
  app.get<{ Params: { projectId: string } }>('/repository/api/project/:projectId/members', async (req, reply) => {
    await requireProjectManager(req, req.params.projectId);
    return send(req, reply, (await admin.listMembers(req.params.projectId)).map((m) => ({ ...m, createdDate: iso(m.createdDate) })));
  });

  app.put<{ Params: { projectId: string } }>('/repository/api/project/:projectId/members', async (req, reply) => {
    const p = await requireProjectManager(req, req.params.projectId);
    const body = (req.body ?? {}) as Body;
    await admin.setMember(actor(p, req), req.params.projectId, required(body, 'userId', 'member'), required(body, 'role'));
    return send(req, reply, true);
  });

  app.delete<{ Params: { projectId: string; userId: string } }>('/repository/api/project/:projectId/members/:userId', async (req, reply) => {
    const p = await requireProjectManager(req, req.params.projectId);
    await admin.removeMember(actor(p, req), req.params.projectId, req.params.userId);
    return send(req, reply, true);
  });
}
