import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Action, isAuthenticated, type Principal } from '../auth/principal.ts';
import { RegistryError } from '../domain/errors.ts';
import { announcesBody } from './connection-reuse.ts';
import type { HttpServices } from './services.ts';

/** Principals found before the request's body was read (see authenticateBeforeBody). */
const beforeBody = new WeakMap<FastifyRequest, Promise<Principal | undefined>>();

/** The request's principal; UNAUTHORIZED when credentials were sent but are wrong. */
export function principalOf(s: HttpServices, req: FastifyRequest): Promise<Principal | undefined> {
  const known = beforeBody.get(req);
  if (known) return known;
  const uid = req.headers['x-bkrepo-uid'];
  return s.authenticator.authenticate(req.headers.authorization, { ip: req.ip, uid: Array.isArray(uid) ? uid[0] : uid });
}

/** Methods of the management APIs that change something: all of them need a signed-in caller. */
const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * For a management scope, where every request that changes something needs a signed-in caller:
 * such a request (POST, PUT, PATCH, DELETE) with a body is authenticated before its body is
 * read, parsed and validated, so a caller without valid credentials gets 401 whatever it sent,
 * never a 400 about a body nobody should have looked at, and costs no parsing. Handlers asking
 * principalOf later get the same answer without a second check.
 */
export function authenticateBeforeBody(app: FastifyInstance, s: HttpServices): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!CHANGES.has(req.method) || !announcesBody(req.raw)) return payload;
    const principal = principalOf(s, req);
    beforeBody.set(req, principal);
    if (!isAuthenticated(await principal)) throw new RegistryError('UNAUTHORIZED', 'authentication required');
    return payload;
  });
}

/**
 * Authenticates and authorizes one action on an OCI repository name in one place:
 * anonymous and not allowed is UNAUTHORIZED (401), authenticated and not allowed is DENIED (403).
 */
export async function requireAccess(s: HttpServices, req: FastifyRequest, repository: string, action: Action): Promise<Principal | undefined> {
  const principal = await principalOf(s, req);
  const granted = await s.authorizer.authorize(principal, repository, [action]);
  if (granted.includes(action)) return principal;
  if (!principal) throw new RegistryError('UNAUTHORIZED', 'authentication required');
  throw new RegistryError('DENIED', `${principal.name} may not ${action} ${repository}`);
}

/** An authenticated principal, or UNAUTHORIZED. */
export async function requirePrincipal(s: HttpServices, req: FastifyRequest): Promise<Principal> {
  const principal = await principalOf(s, req);
  if (!principal) throw new RegistryError('UNAUTHORIZED', 'authentication required');
  return principal;
}

/** The externally visible base URL: configured, or derived from the request. */
export function externalBase(s: HttpServices, req: FastifyRequest): string {
  if (s.options.baseUrl) return s.options.baseUrl;
  return `${req.protocol}://${req.host}`;
}
