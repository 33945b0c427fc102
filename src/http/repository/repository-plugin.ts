import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../../domain/errors.ts';
import type { ProjectAdmin, ProjectView, RepoView } from '../../registry/project-admin.ts';
import { authenticateBeforeBody, requirePrincipal } from '../access.ts';
import { ok, useEnvelope } from '../envelope.ts';
import { DocEnvelope } from '../ext/ext-schemas.ts';
import { formatDate } from '../ext/format.ts';
import type { HttpServices } from '../services.ts';

const ProjectSchema = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  description: Type.String(),
  createdBy: Type.String(),
  createdDate: Type.String(),
  imageCount: Type.Integer(),
  quota: Type.Union([Type.Integer(), Type.Null()], { description: 'bytes; null = unlimited' }),
  usedBytes: Type.Integer({ description: 'bytes of the distinct blobs and manifests of the project' }),
});

const RepoSchema = Type.Object({
  projectId: Type.String(),
  name: Type.String(),
  type: Type.String(),
  public: Type.Boolean(),
  description: Type.String(),
  createdBy: Type.String(),
  createdDate: Type.String(),
  imageCount: Type.Integer(),
  quota: Type.Union([Type.Integer(), Type.Null()], { description: 'bytes; null = unlimited' }),
  usedBytes: Type.Integer({ description: 'bytes of the distinct blobs and manifests of the repo (a blob shared with another repo counts in both)' }),
  immutableTags: Type.Boolean(),
});

const QuotaInput = Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'bytes; null or 0 = unlimited' }));

const RetentionRuleSchema = Type.Object({
  pattern: Type.String({ description: 'glob over the tag: * and ?' }),
  keepLast: Type.Integer({ minimum: 0, description: 'keep this many most recently pushed matching tags per image' }),
});

const ForceQuery = Type.Object({
  force: Type.Optional(Type.Boolean({ description: 'delete even when images remain (audited)' })),
  forced: Type.Optional(Type.Boolean({ description: 'bk-repo spelling of force' })),
});

const projectView = (p: ProjectView) => ({
  name: p.name,
  displayName: p.displayName,
  description: p.description,
  createdBy: p.createdBy,
  createdDate: formatDate(p.createdAt),
  imageCount: p.imageCount,
  quota: p.quotaBytes ?? null,
  usedBytes: p.usedBytes,
});

const repoView = (r: RepoView) => ({
  projectId: r.project,
  name: r.name,
  type: r.type,
  public: r.public,
  description: r.description,
  createdBy: r.createdBy,
  createdDate: formatDate(r.createdAt),
  imageCount: r.imageCount,
  quota: r.quotaBytes ?? null,
  usedBytes: r.usedBytes,
  immutableTags: r.immutableTags === true,
});

type Body = Record<string, unknown>;

function body(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new RegistryError('PARAMETER_INVALID', 'request body must be a JSON object');
  return b as Body;
}

/** Projects and repos in bk-repo's style under /repository/api, in the envelope. */
export async function repositoryPlugin(app: FastifyInstance, opts: { services: HttpServices; admin: ProjectAdmin }): Promise<void> {
  const s = opts.services;
  const admin = opts.admin;
  useEnvelope(app);
  authenticateBeforeBody(app, s);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  /** System admins manage everything; project admins their project. */
  async function requireManager(req: FastifyRequest, project: string | undefined) {
    const principal = await requirePrincipal(s, req);
    const allowed = project === undefined ? principal.admin : await s.authorizer.mayManageProject(principal, project);
    if (!allowed) throw new RegistryError('DENIED', `${principal.name} may not manage ${project === undefined ? 'projects' : `project "${project}"`}`);
    return principal;
  }

  /** Anyone who may pull something of the project sees it: members, admins, public repos. */
  async function mayView(req: FastifyRequest, project: string, repo?: string): Promise<boolean> {
    const principal = await requirePrincipal(s, req);
    if (await s.authorizer.mayManageProject(principal, project)) return true;
    const repos = repo ? [repo] : (await admin.repos(project)).map((r) => r.name);
    for (const r of repos) {
      if ((await s.authorizer.authorize(principal, `${project}/${r}/*`, ['pull'])).length > 0) return true;
    }
    return false;
  }

  async function requireView(req: FastifyRequest, project: string, repo?: string): Promise<void> {
    await admin.project(project);
    if (!(await mayView(req, project, repo))) throw new RegistryError('DENIED', `no access to project "${project}"`);
  }

  // --- projects ---
  app.post('/repository/api/project/create', {
    schema: {
      summary: 'Create a project (system admins)',
      body: Type.Object({ name: Type.String(), displayName: Type.Optional(Type.String()), description: Type.Optional(Type.String()), quota: QuotaInput }),
      response: DocEnvelope(ProjectSchema),
    },
  }, async (req, reply) => {
    const principal = await requireManager(req, undefined);
    const project = await admin.createProject(body(req), principal.name);
    await s.auth.audit.record({ actor: principal.name, action: 'project.create', target: project.name, project: project.name, ip: req.ip });
    return ok(req, reply, projectView(project));
  });

  app.get('/repository/api/project/list', {
    schema: { summary: 'Projects the caller can see', response: DocEnvelope(Type.Array(ProjectSchema)) },
  }, async (req, reply) => {
    await requirePrincipal(s, req);
    const visible = [];
    for (const p of await admin.projects()) if (await mayView(req, p.name)) visible.push(projectView(p));
    return ok(req, reply, visible);
  });

  app.get<{ Params: { projectId: string } }>('/repository/api/project/info/:projectId', {
    schema: { summary: 'One project', response: DocEnvelope(ProjectSchema) },
  }, async (req, reply) => {
    await requireView(req, req.params.projectId);
    return ok(req, reply, projectView(await admin.project(req.params.projectId)));
  });

  app.route<{ Params: { projectId: string } }>({
    method: ['PUT', 'POST'],
    url: '/repository/api/project/update/:projectId',
    schema: {
      summary: 'Update a project\'s display name, description or quota (project admins; the quota: system admins)',
      body: Type.Object({ displayName: Type.Optional(Type.String()), description: Type.Optional(Type.String()), quota: QuotaInput }),
      response: DocEnvelope(ProjectSchema),
    },
    handler: async (req, reply) => {
      await admin.project(req.params.projectId);
      const input = body(req);
      // A project's quota is the system admins' to set: project admins must not lift their own limit.
      const principal = await requireManager(req, input.quota === undefined ? req.params.projectId : undefined);
      const project = await admin.updateProject(req.params.projectId, input);
      await s.auth.audit.record({ actor: principal.name, action: 'project.update', target: project.name, project: project.name, ip: req.ip, ...(input.quota !== undefined ? { detail: `quota=${project.quotaBytes ?? 'unlimited'}` } : {}) });
      return ok(req, reply, projectView(project));
    },
  });

  app.delete<{ Params: { projectId: string }; Querystring: { force?: boolean; forced?: boolean } }>('/repository/api/project/delete/:projectId', {
    schema: { summary: 'Delete a project; with images left it needs force=true (system admins)', querystring: ForceQuery, response: DocEnvelope(Type.Null()) },
  }, async (req, reply) => {
    await admin.project(req.params.projectId);
    const principal = await requireManager(req, undefined);
    const force = req.query.force === true || req.query.forced === true;
    const result = await admin.deleteProject(req.params.projectId, force);
    await s.auth.audit.record({ actor: principal.name, action: 'project.delete', target: req.params.projectId, project: req.params.projectId, ip: req.ip, detail: `force=${force} images=${result.images}` });
    return ok(req, reply, null);
  });

  // --- repos ---
  app.post('/repository/api/repo/create', {
    schema: {
      summary: 'Create a repo in a project (project admins)',
      body: Type.Object({
        projectId: Type.String(),
        name: Type.String(),
        type: Type.Optional(Type.Literal('DOCKER')),
        public: Type.Optional(Type.Boolean()),
        description: Type.Optional(Type.String()),
        quota: QuotaInput,
        immutableTags: Type.Optional(Type.Boolean()),
      }),
      response: DocEnvelope(RepoSchema),
    },
  }, async (req, reply) => {
    const input = body(req);
    const project = typeof input.projectId === 'string' ? input.projectId : '';
    await admin.project(project);
    const principal = await requireManager(req, project);
    const repo = await admin.createRepo(input, principal.name);
    await s.auth.audit.record({ actor: principal.name, action: 'repo.create', target: `${repo.project}/${repo.name}`, ip: req.ip });
    return ok(req, reply, repoView(repo));
  });

  app.get<{ Params: { projectId: string } }>('/repository/api/repo/list/:projectId', {
    schema: { summary: 'Repos of a project the caller can see', response: DocEnvelope(Type.Array(RepoSchema)) },
  }, async (req, reply) => {
    await requireView(req, req.params.projectId);
    const visible = [];
    for (const r of await admin.repos(req.params.projectId)) if (await mayView(req, r.project, r.name)) visible.push(repoView(r));
    return ok(req, reply, visible);
  });

  app.get<{ Params: { projectId: string; repoName: string } }>('/repository/api/repo/info/:projectId/:repoName', {
    schema: { summary: 'One repo', response: DocEnvelope(RepoSchema) },
  }, async (req, reply) => {
    const repo = await admin.repo(req.params.projectId, req.params.repoName);
    await requireView(req, req.params.projectId, req.params.repoName);
    return ok(req, reply, repoView(repo));
  });

  app.route<{ Params: { projectId: string; repoName: string } }>({
    method: ['PUT', 'POST'],
    url: '/repository/api/repo/update/:projectId/:repoName',
    schema: {
      summary: 'Make a repo public or private, change its description, quota or immutable tags (project admins)',
      body: Type.Object({ public: Type.Optional(Type.Boolean()), description: Type.Optional(Type.String()), quota: QuotaInput, immutableTags: Type.Optional(Type.Boolean()) }),
      response: DocEnvelope(RepoSchema),
    },
    handler: async (req, reply) => {
      await admin.repo(req.params.projectId, req.params.repoName);
      const principal = await requireManager(req, req.params.projectId);
      const repo = await admin.updateRepo(req.params.projectId, req.params.repoName, body(req));
      await s.auth.audit.record({ actor: principal.name, action: 'repo.update', target: `${repo.project}/${repo.name}`, ip: req.ip, detail: `public=${repo.public} quota=${repo.quotaBytes ?? 'unlimited'} immutableTags=${repo.immutableTags === true}` });
      return ok(req, reply, repoView(repo));
    },
  });

  app.delete<{ Params: { projectId: string; repoName: string }; Querystring: { force?: boolean; forced?: boolean } }>('/repository/api/repo/delete/:projectId/:repoName', {
    schema: { summary: 'Delete a repo; with images left it needs force=true (project admins)', querystring: ForceQuery, response: DocEnvelope(Type.Null()) },
  }, async (req, reply) => {
    await admin.repo(req.params.projectId, req.params.repoName);
    const principal = await requireManager(req, req.params.projectId);
    const force = req.query.force === true || req.query.forced === true;
    const result = await admin.deleteRepo(req.params.projectId, req.params.repoName, force);
    await s.auth.audit.record({ actor: principal.name, action: 'repo.delete', target: `${req.params.projectId}/${req.params.repoName}`, ip: req.ip, detail: `force=${force} images=${result.images}` });
    return ok(req, reply, null);
  });

  // --- tag retention (applied by GC; docs/quotas-and-retention.md) ---
  app.get<{ Params: { projectId: string; repoName: string } }>('/repository/api/repo/retention/:projectId/:repoName', {
    schema: { summary: 'A repo\'s tag retention rules', response: DocEnvelope(Type.Array(RetentionRuleSchema)) },
  }, async (req, reply) => {
    await admin.repo(req.params.projectId, req.params.repoName);
    await requireView(req, req.params.projectId, req.params.repoName);
    return ok(req, reply, await admin.retention(req.params.projectId, req.params.repoName));
  });

  app.route<{ Params: { projectId: string; repoName: string } }>({
    method: ['PUT', 'POST'],
    url: '/repository/api/repo/retention/:projectId/:repoName',
    schema: {
      summary: 'Replace a repo\'s tag retention rules: keep the keepLast most recently pushed tags matching pattern, per image; [] removes them (project admins)',
      response: DocEnvelope(Type.Array(RetentionRuleSchema)),
    },
    handler: async (req, reply) => {
      await admin.repo(req.params.projectId, req.params.repoName);
      const principal = await requireManager(req, req.params.projectId);
      const rules = await admin.setRetention(req.params.projectId, req.params.repoName, req.body ?? []);
      await s.auth.audit.record({ actor: principal.name, action: 'repo.retention', target: `${req.params.projectId}/${req.params.repoName}`, ip: req.ip, detail: JSON.stringify(rules).slice(0, 500) });
      return ok(req, reply, rules);
    },
  });

  app.get<{ Params: { projectId: string; repoName: string } }>('/repository/api/repo/retention/preview/:projectId/:repoName', {
    schema: {
      summary: 'Dry run: the tags the repo\'s retention rules would remove now',
      response: DocEnvelope(Type.Array(Type.Object({ image: Type.String(), tag: Type.String(), digest: Type.String(), lastModifiedDate: Type.String() }))),
    },
  }, async (req, reply) => {
    await admin.repo(req.params.projectId, req.params.repoName);
    await requireView(req, req.params.projectId, req.params.repoName);
    const tags = await admin.retentionPreview(req.params.projectId, req.params.repoName);
    return ok(req, reply, tags.map((t) => ({ image: t.image, tag: t.tag, digest: t.digest, lastModifiedDate: formatDate(t.pushedAt) })));
  });
}
