import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Action } from '../../auth/principal.ts';
import { principalOf } from '../access.ts';
import { ok, useEnvelope } from '../envelope.ts';
import { DocEnvelope } from '../ext/ext-schemas.ts';
import type { HttpServices } from '../services.ts';

const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'delete-tag'];

const Permission = Type.Object({
  userId: Type.String({ description: 'the caller; "" when anonymous' }),
  admin: Type.Boolean({ description: 'a system admin' }),
  manage: Type.Boolean({ description: 'may manage the project: members, repos, visibility' }),
  pull: Type.Boolean(),
  push: Type.Boolean({ description: 'push, and move a tag\'s stage' }),
  delete: Type.Boolean({ description: 'delete images (and tags)' }),
  deleteTag: Type.Boolean({ description: 'delete tags' }),
});

/**
 * What the caller may do in a project or repo, so a client can show only the actions that will
 * succeed (the server still checks every request). Never fails for lack of rights: it answers
 * `false`s; wrong credentials are 401 as everywhere.
 */
export async function permissionPlugin(app: FastifyInstance, opts: { services: HttpServices }): Promise<void> {
  const s = opts.services;
  useEnvelope(app);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  async function answer(req: FastifyRequest, project: string, repo: string | undefined) {
    const principal = await principalOf(s, req);
    const granted = repo === undefined ? [] : await s.authorizer.authorize(principal, `${project}/${repo}/*`, ACTIONS);
    return {
      userId: principal?.name ?? '',
      admin: principal?.admin === true && principal.kind !== 'anonymous',
      manage: await s.authorizer.mayManageProject(principal, project),
      pull: granted.includes('pull'),
      push: granted.includes('push'),
      delete: granted.includes('delete'),
      deleteTag: granted.includes('delete-tag') || granted.includes('delete'),
    };
  }

  app.get<{ Params: { projectId: string } }>('/repository/api/permission/:projectId', {
    schema: { summary: 'What the caller may do in a project (manage it or not)', response: DocEnvelope(Permission) },
  }, async (req, reply) => ok(req, reply, await answer(req, req.params.projectId, undefined)));

  app.get<{ Params: { projectId: string; repoName: string } }>('/repository/api/permission/:projectId/:repoName', {
    schema: { summary: 'What the caller may do in a repo: pull, push, delete, deleteTag, manage', response: DocEnvelope(Permission) },
  }, async (req, reply) => ok(req, reply, await answer(req, req.params.projectId, req.params.repoName)));
}
