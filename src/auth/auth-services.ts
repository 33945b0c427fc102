import type { Logger } from 'pino';
import type { AuthStore } from '../metadata/auth-store.ts';
import type { NamespaceStore } from '../metadata/metadata-store.ts';
import { AuditTrail } from './audit-trail.ts';
import { AuthAdmin } from './auth-admin.ts';
import { CredentialAuthenticator } from './credential-authenticator.ts';
import { LoginThrottle } from './login-throttle.ts';
import type { AuthContext, Principal } from './principal.ts';
import { RoleAuthorizer } from './role-authorizer.ts';
import { TokenService } from './token-service.ts';

export const TOKEN_ISSUER = 'berth';
export const TOKEN_AUDIENCE = 'berth';
/** docker login's refresh (identity) tokens live this long unless the password changes first. */
export const REFRESH_TOKEN_TTL_MS = 30 * 24 * 3600_000;
export const LOGIN_FAILURE_WINDOW_MS = 15 * 60_000;

/** What the HTTP edge needs from auth beyond the Authenticator and Authorizer. */
export interface AuthServices {
  readonly tokens: TokenService;
  readonly admin: AuthAdmin;
  readonly audit: AuditTrail;
  /** The user a refresh token belongs to (POST /v2/auth, grant_type=refresh_token). */
  refresh(token: string, context: AuthContext): Promise<Principal>;
  readonly refreshTtlMs: number;
}

export interface AuthSetup {
  authenticator: CredentialAuthenticator;
  authorizer: RoleAuthorizer;
  auth: AuthServices;
}

export interface AuthOptions {
  autoCreate: boolean;
  tokenTtlSeconds: number;
  /** Failed logins per user name (and five times as many per address) within 15 minutes. */
  loginFailureLimit: number;
}

/** Wires the auth pipeline over the metadata store. */
export async function createAuth(store: AuthStore, namespaces: NamespaceStore, options: AuthOptions, logger: Logger, now: () => number = Date.now): Promise<AuthSetup> {
  const audit = new AuditTrail(store.audit, now, (err) => logger.error({ err }, 'audit log write failed'));
  const tokens = await TokenService.open(store.keys, { service: TOKEN_AUDIENCE, issuer: TOKEN_ISSUER, ttlSeconds: options.tokenTtlSeconds, now });
  const throttle = new LoginThrottle({
    maxFailuresPerUser: options.loginFailureLimit,
    maxFailuresPerAddress: options.loginFailureLimit * 5,
    windowMs: LOGIN_FAILURE_WINDOW_MS,
    now,
  });
  const authenticator = new CredentialAuthenticator({
    credentialChanges: store.credentialChanges,
    users: store.users,
    tokens: store.tokens,
    serviceAccounts: store.serviceAccounts,
    tokenService: tokens,
    throttle,
    audit,
    now,
  });
  const authorizer = new RoleAuthorizer({ members: store.members, namespaces, autoCreate: options.autoCreate });
  const admin = new AuthAdmin({ store, namespaces, audit, now, onCredentialsChanged: (owner) => authenticator.invalidateOwner(owner) });
  return {
    authenticator,
    authorizer,
    auth: { tokens, admin, audit, refresh: (token, context) => authenticator.refresh(token, context), refreshTtlMs: REFRESH_TOKEN_TTL_MS },
  };
}
