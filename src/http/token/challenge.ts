import type { FastifyRequest } from 'fastify';

/** Name of the token service: the challenge's `service` and the tokens' `aud`. */
export const TOKEN_SERVICE_NAME = 'berth';
export const TOKEN_PATH = '/v2/auth';

/** The externally visible base URL: configured, or derived from the request's Host (sanitised). */
export function requestBase(baseUrl: string | undefined, req: FastifyRequest): string {
  if (baseUrl) return baseUrl;
  const host = (req.host || 'localhost').replace(/[^A-Za-z0-9.:[\]-]/g, '');
  return `${req.protocol === 'https' ? 'https' : 'http'}://${host}`;
}

/**
 * `WWW-Authenticate` value of a `/v2` 401 per the Docker token-auth spec: realm, service and,
 * when known, the scope the request needs; `error="insufficient_scope"` when a token was sent
 * but lacks the grant.
 */
export function bearerChallenge(base: string, scope?: string, error?: 'insufficient_scope' | 'invalid_token'): string {
  let value = `Bearer realm="${base}${TOKEN_PATH}",service="${TOKEN_SERVICE_NAME}"`;
  if (scope) value += `,scope="${scope}"`;
  if (error) value += `,error="${error}"`;
  return value;
}

/** The scope string a challenge names for an action on a repository. */
export function repositoryScope(name: string, action: string): string {
  const actions = action === 'push' ? 'pull,push' : action === 'delete-tag' ? 'delete' : action;
  return `repository:${name}:${actions}`;
}
