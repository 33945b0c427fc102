import type { FastifyRequest } from 'fastify';
import type { Action, Principal } from '../auth/principal.ts';
import { RegistryError } from '../domain/errors.ts';
import type { HttpServices } from './services.ts';

/** The request's principal; UNAUTHORIZED when credentials were sent but are wrong. */
export function principalOf(s: HttpServices, req: FastifyRequest): Promise<Principal | undefined> {
  const uid = req.headers['x-bkrepo-uid'];
  return s.authenticator.authenticate(req.headers.authorization, { ip: req.ip, uid: Array.isArray(uid) ? uid[0] : uid });
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
