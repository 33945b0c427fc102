import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Action, Grant, Principal } from '../../auth/principal.ts';
import { RegistryError } from '../../domain/errors.ts';
import { parseRepositoryName } from '../../domain/names.ts';
import { answerOciError } from '../oci/oci-errors.ts';
import type { HttpServices } from '../services.ts';
import { TOKEN_PATH, TOKEN_SERVICE_NAME } from './challenge.ts';

export interface RequestedScope {
  type: string;
  name: string;
  actions: string[];
}

/** `type[(class)]:name:actions` scopes; several per parameter separated by spaces. Malformed ones are skipped. */
export function parseScopes(values: readonly string[]): RequestedScope[] {
  const out: RequestedScope[] = [];
  for (const value of values) {
    for (const item of value.split(' ')) {
      const m = /^([a-z0-9]+)(?:\([^)]*\))?:(.+):([a-z*,-]*)$/.exec(item.trim());
      if (!m) continue;
      out.push({ type: m[1]!, name: m[2]!, actions: m[3]!.split(',').filter(Boolean) });
    }
  }
  return out;
}

const TOKEN_ACTIONS: Record<string, Action[]> = {
  pull: ['pull'],
  push: ['push'],
  delete: ['delete', 'delete-tag'],
  '*': ['pull', 'push', 'delete', 'delete-tag'],
};

/** The requested scopes narrowed to what the principal may do; scopes with nothing granted are left out. */
export async function narrowScopes(s: HttpServices, principal: Principal | undefined, scopes: readonly RequestedScope[]): Promise<Grant[]> {
  const merged = new Map<string, { type: string; name: string; actions: Set<string> }>();
  for (const scope of scopes) {
    let granted: string[] = [];
    if (scope.type === 'repository') {
      try {
        parseRepositoryName(scope.name);
      } catch {
        continue;
      }
      const wanted = [...new Set(scope.actions.flatMap((a) => TOKEN_ACTIONS[a] ?? []))];
      const allowed = await s.authorizer.authorize(principal, scope.name, wanted);
      // A token's `delete` also covers tag deletion (developers); each request is still checked against the roles.
      granted = (['pull', 'push', 'delete'] as const).filter((a) => (a === 'delete' ? allowed.includes('delete') || allowed.includes('delete-tag') : allowed.includes(a)));
    } else if (scope.type === 'registry' && scope.name === 'catalog') {
      if (s.authorizer.mayListCatalog(principal)) granted = scope.actions.filter((a) => a === '*');
    }
    if (granted.length === 0) continue;
    const key = `${scope.type}:${scope.name}`;
    const entry = merged.get(key) ?? { type: scope.type, name: scope.name, actions: new Set<string>() };
    granted.forEach((a) => entry.actions.add(a));
    merged.set(key, entry);
  }
  return [...merged.values()].map((e) => ({ type: e.type, name: e.name, actions: [...e.actions] }));
}

function basicHeader(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * The token endpoint of the Docker token-auth spec at `/v2/auth`: `GET` with Basic credentials (or
 * none, for public pulls) and `POST` (OAuth2 `grant_type=password|refresh_token`) for docker
 * login's refresh tokens. Errors use the `/v2` error body.
 */
export async function tokenPlugin(app: FastifyInstance, opts: { services: HttpServices }): Promise<void> {
  const s = opts.services;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const ctx = (req: FastifyRequest) => ({ ip: req.ip, uid: headerValue(req.headers['x-bkrepo-uid']) });

  function checkService(service: string | undefined): void {
    if (service !== undefined && service !== '' && service !== TOKEN_SERVICE_NAME) {
      throw new RegistryError('PARAMETER_INVALID', `unknown service; this token service issues tokens for "${TOKEN_SERVICE_NAME}"`);
    }
  }

  async function answer(req: FastifyRequest, reply: FastifyReply, principal: Principal | undefined, scopes: RequestedScope[], refreshToken?: string): Promise<FastifyReply> {
    const grants = await narrowScopes(s, principal, scopes);
    const subject = principal && principal.kind !== 'anonymous' ? principal.name : '';
    const issued = await s.auth.tokens.issue(subject, grants);
    req.log.debug({ subject, grants: grants.length }, 'token issued');
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      scope: grants.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`).join(' '),
    };
    if (refreshToken) body.refresh_token = refreshToken;
    return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').type('application/json').send(JSON.stringify(body));
  }

  // What Fastify refuses before the handlers (a malformed Content-Type), in the token service's format.
  app.setErrorHandler((err, req, reply) => answerOciError(req, reply, err, 'token request failed'));

  app.get(TOKEN_PATH, async (req, reply) => {
    try {
      const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
      checkService(query.get('service') ?? undefined);
      const principal = await s.authenticator.authenticate(req.headers.authorization, ctx(req));
      let refreshToken: string | undefined;
      if (query.get('offline_token') === 'true' && principal && principal.kind === 'user' && !principal.grants) {
        refreshToken = await s.auth.admin.createRefreshToken(principal.name, query.get('client_id') ?? '', s.auth.refreshTtlMs);
      }
      return await answer(req, reply, principal, parseScopes(query.getAll('scope')), refreshToken);
    } catch (err) {
      return answerOciError(req, reply, err, 'token request failed');
    }
  });

  app.post(TOKEN_PATH, async (req, reply) => {
    try {
      const form = (req.body ?? {}) as Record<string, string | undefined>;
      checkService(form.service);
      if (!form.client_id) throw new RegistryError('PARAMETER_INVALID', 'client_id is required');
      const scopes = parseScopes(form.scope ? [form.scope] : []);
      if (form.grant_type === 'password') {
        if (!form.username || form.password === undefined) throw new RegistryError('PARAMETER_INVALID', 'username and password are required');
        const principal = await s.authenticator.authenticate(basicHeader(form.username, form.password), ctx(req));
        if (!principal) throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
        const refreshToken =
          form.access_type === 'offline' && principal.kind === 'user'
            ? await s.auth.admin.createRefreshToken(principal.name, form.client_id, s.auth.refreshTtlMs)
            : undefined;
        return await answer(req, reply, principal, scopes, refreshToken);
      }
      if (form.grant_type === 'refresh_token') {
        if (!form.refresh_token) throw new RegistryError('PARAMETER_INVALID', 'refresh_token is required');
        const principal = await s.auth.refresh(form.refresh_token, ctx(req));
        return await answer(req, reply, principal, scopes);
      }
      throw new RegistryError('PARAMETER_INVALID', 'grant_type must be password or refresh_token');
    } catch (err) {
      return answerOciError(req, reply, err, 'token request failed');
    }
  });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
