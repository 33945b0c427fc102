import { hash, randomBytes } from 'node:crypto';
import { RegistryError } from '../domain/errors.ts';
import type { AccessTokenStore, CredentialChanges, ServiceAccountStore, UserDirectory } from '../metadata/auth-store.ts';
import type { UserRecord } from '../metadata/metadata-store.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import type { AuthContext, Authenticator, Principal } from './principal.ts';
import { parseToken, secretMatches } from './secrets.ts';
import { TokenService } from './token-service.ts';

const CACHE_TTL_MS = 60_000;
/**
 * A hit this close to its entry's expiry verifies the header again in the background, so a client
 * under steady load never waits for the KDF: every request with its header did, once a minute,
 * for the 15-100 ms of one verification.
 */
export const REFRESH_AHEAD_MS = 10_000;
const CACHE_MAX = 10_000;
/** How often the credential change counter is read: how stale a cached verification can be. */
export const CREDENTIAL_CHECK_MS = 1_000;

/** Parses `Basic base64(user:password)`; undefined when the header is not Basic or is malformed. */
export function parseBasic(header: string): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `Platform base64(AK:SK)` (bk-repo's form for service accounts). */
export function parsePlatform(header: string): { accessKey: string; secretKey: string } | undefined {
  const m = /^Platform\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { accessKey: decoded.slice(0, colon), secretKey: decoded.slice(colon + 1) };
}

interface CacheEntry {
  principal: Principal;
  /** The users and service accounts the entry depends on, for invalidation. */
  owners: string[];
  expires: number;
  /** When a hit starts verifying again in the background; Infinity once started, or when the credential itself expires first. */
  refreshAt: number;
  /** The credential change counter when the verification began. */
  version: number;
}

export interface CredentialAuthenticatorDeps {
  credentialChanges: CredentialChanges;
  users: UserDirectory;
  tokens: AccessTokenStore;
  serviceAccounts: ServiceAccountStore;
  tokenService: TokenService;
  throttle: LoginThrottle;
  audit: AuditTrail;
  now: () => number;
}

interface Verified {
  principal: Principal;
  owners: string[];
  /** Epoch ms after which the credential itself is no longer valid. */
  expires?: number;
}

const badCredentials = () => new RegistryError('UNAUTHORIZED', 'invalid username or password');

/**
 * Every credential form in one place: Basic with a password or a personal access token, Bearer
 * with one of our JWTs or a personal access token, and `Platform base64(AK:SK)` with
 * `X-BKREPO-UID` for service accounts.
 *
 * A verified header is cached for a minute (keyed by its sha256, never the secret itself), so
 * clients that send Basic on every request do not pay the KDF each time, and verified again in
 * the background when it is used in its last REFRESH_AHEAD_MS; `invalidateOwner` drops
 * a user's entries at once when the password changes, the user is disabled or a token is revoked
 * through this process. Changes made elsewhere (another node, the `berth` command) move the
 * database's credential change counter, read at most every CREDENTIAL_CHECK_MS: an entry made
 * under an older count is verified again, so such a change holds everywhere within a second.
 * Failed password and token checks are throttled per user and per address.
 */
export class CredentialAuthenticator implements Authenticator {
  private readonly cache = new Map<string, CacheEntry>();
  /** Verifications running now, by cache key: the same header arriving meanwhile waits for it. */
  private readonly verifying = new Map<string, Promise<Principal>>();
  private dummyHash: Promise<string> | undefined;
  /** The credential change counter as last read, when, and the read in flight. */
  private version = 0;
  private versionReadAt = -Infinity;
  private versionRead: Promise<void> | undefined;

  constructor(private readonly deps: CredentialAuthenticatorDeps) {}

  async authenticate(authorization: string | undefined, context: AuthContext): Promise<Principal | undefined> {
    if (authorization === undefined || authorization.trim() === '') return undefined;
    if (this.deps.now() - this.versionReadAt >= CREDENTIAL_CHECK_MS) await this.readVersion();
    // One-shot hash: a third of createHash's cost for a short string, on every authenticated request.
    const id = hash('sha256', `${authorization}\0${context.uid ?? ''}`, 'base64');
    const hit = this.cache.get(id);
    if (hit) {
      const now = this.deps.now();
      if (hit.expires > now && hit.version === this.version) {
        if (hit.refreshAt <= now && !this.verifying.has(id)) {
          hit.refreshAt = Infinity;
          // A failure (the credential no longer holds) is counted by verify; the entry then runs out.
          this.startVerification(authorization, context, id).catch(() => {});
        }
        return hit.principal;
      }
      this.cache.delete(id);
    }
    // A client opening many connections at once (a push of many layers) sends the same header
    // on each before the first answer: one KDF run (19 MiB, 15-50 ms) serves them all. A failure
    // is not shared: each request then verifies, and counts, for itself.
    const running = this.verifying.get(id);
    if (running) {
      const principal = await running.catch(() => undefined);
      if (principal) return principal;
    }
    return this.startVerification(authorization, context, id);
  }

  /** Verifies the header, registered in `verifying` while it runs so the same header arriving meanwhile waits for it. */
  private async startVerification(authorization: string, context: AuthContext, id: string): Promise<Principal> {
    const verification = this.verify(authorization, context, id);
    this.verifying.set(id, verification);
    try {
      return await verification;
    } finally {
      if (this.verifying.get(id) === verification) this.verifying.delete(id);
    }
  }

  /** Reads the credential change counter; one read at a time, shared by the requests that need it. */
  private readVersion(): Promise<void> {
    this.versionRead ??= this.deps.credentialChanges.version().then(
      (version) => {
        this.version = version;
        this.versionReadAt = this.deps.now();
        this.versionRead = undefined;
      },
      (err: unknown) => {
        this.versionRead = undefined;
        throw err;
      },
    );
    return this.versionRead;
  }

  private async verify(authorization: string, context: AuthContext, id: string): Promise<Principal> {
    const version = this.version;
    const scheme = /^(\S+)\s/.exec(authorization)?.[1]?.toLowerCase();
    let result: Verified;
    if (scheme === 'basic') {
      const credentials = parseBasic(authorization);
      if (!credentials) throw new RegistryError('UNAUTHORIZED', 'malformed Basic credentials');
      result = await this.password(credentials.user, credentials.password, context);
    } else if (scheme === 'bearer') {
      const value = authorization.slice(authorization.indexOf(' ') + 1).trim();
      if (TokenService.looksLikeJwt(value)) result = await this.jwt(value);
      else if (parseToken(value)) result = await this.accessToken(undefined, value, context);
      else throw new RegistryError('UNAUTHORIZED', 'invalid or expired token');
    } else if (scheme === 'platform') {
      const credentials = parsePlatform(authorization);
      if (!credentials) throw new RegistryError('UNAUTHORIZED', 'malformed Platform credentials');
      result = await this.platform(credentials.accessKey, credentials.secretKey, context);
    } else {
      throw new RegistryError('UNAUTHORIZED', 'unsupported Authorization scheme; use Basic, Bearer or Platform');
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    const ttlEnds = this.deps.now() + CACHE_TTL_MS;
    const lasting = result.expires === undefined || result.expires >= ttlEnds;
    this.cache.set(id, {
      principal: result.principal,
      owners: result.owners,
      expires: lasting ? ttlEnds : result.expires!,
      refreshAt: lasting ? ttlEnds - REFRESH_AHEAD_MS : Infinity,
      version,
    });
    return result.principal;
  }

  /** Forgets cached verifications of one user or service account. */
  invalidateOwner(owner: string): void {
    for (const [key, entry] of this.cache) if (entry.owners.includes(owner)) this.cache.delete(key);
  }

  /** Forgets every cached verification. */
  invalidateAll(): void {
    this.cache.clear();
  }

  /**
   * The user a refresh token (docker login's offline token) belongs to; UNAUTHORIZED when it is
   * unknown, expired, revoked or its user is disabled. Never cached.
   */
  async refresh(token: string, context: AuthContext): Promise<Principal> {
    const parsed = parseToken(token);
    if (!parsed || parsed.kind !== 'refresh') throw new RegistryError('UNAUTHORIZED', 'invalid refresh token');
    const { principal } = await this.accessToken(undefined, token, context, 'refresh');
    return principal;
  }

  private throttled(user: string, context: AuthContext): void {
    const wait = this.deps.throttle.retryAfter(user, context.ip);
    if (wait !== undefined) {
      throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; retry in ${wait} s`, undefined, { headers: { 'retry-after': String(wait) } });
    }
  }

  private async failed(user: string, context: AuthContext, via: string): Promise<never> {
    this.deps.throttle.recordFailure(user, context.ip);
    await this.deps.audit.record({ actor: user, action: 'login.failed', target: user, ip: context.ip, detail: `via ${via}`, project: null });
    throw badCredentials();
  }

  private async succeeded(user: string, context: AuthContext, via: string): Promise<void> {
    this.deps.throttle.recordSuccess(user);
    await this.deps.audit.record({ actor: user, action: 'login', target: user, ip: context.ip, detail: `via ${via}`, project: null });
  }

  private async password(name: string, password: string, context: AuthContext): Promise<Verified> {
    if (parseToken(password)?.kind === 'personal') return this.accessToken(name, password, context);
    this.throttled(name, context);
    const user = await this.deps.users.getByName(name);
    // A missing user costs the same KDF run as a wrong password: no user enumeration by timing.
    const ok = await verifyPassword(user?.passwordHash ?? (await this.dummy()), password);
    if (!ok || !user || user.disabled) return this.failed(name, context, 'password');
    await this.succeeded(user.name, context, 'password');
    return { principal: userPrincipal(user), owners: [user.name] };
  }

  private async accessToken(
    claimedUser: string | undefined,
    token: string,
    context: AuthContext,
    kind: 'personal' | 'refresh' = 'personal',
  ): Promise<Verified> {
    const parsed = parseToken(token);
    const label = claimedUser ?? `token:${parsed?.id ?? '?'}`;
    this.throttled(label, context);
    const record = parsed && parsed.kind === kind ? await this.deps.tokens.get(parsed.id) : undefined;
    const now = this.deps.now();
    const valid =
      record !== undefined &&
      secretMatches(token, record.secretHash) &&
      record.kind === kind &&
      (record.expiresAt === null || record.expiresAt > now) &&
      (claimedUser === undefined || claimedUser === record.user);
    const user = valid ? await this.deps.users.getByName(record.user) : undefined;
    if (!valid || !user || user.disabled) return this.failed(label, context, kind === 'personal' ? 'access token' : 'refresh token');
    await this.succeeded(user.name, context, kind === 'personal' ? `access token ${record.name}` : 'refresh token');
    return { principal: userPrincipal(user), owners: [user.name], ...(record.expiresAt !== null ? { expires: record.expiresAt } : {}) };
  }

  private async jwt(token: string): Promise<Verified> {
    const verified = await this.deps.tokenService.verify(token);
    const expires = verified.expiresAt * 1000;
    if (verified.subject === '') {
      return { principal: { name: '', admin: false, kind: 'anonymous', grants: verified.access }, owners: [], expires };
    }
    const user = await this.deps.users.getByName(verified.subject);
    if (user) {
      if (user.disabled) throw new RegistryError('UNAUTHORIZED', 'invalid or expired token');
      return { principal: { ...userPrincipal(user), grants: verified.access }, owners: [user.name], expires };
    }
    const account = await this.deps.serviceAccounts.getByName(verified.subject);
    if (!account || account.disabled) throw new RegistryError('UNAUTHORIZED', 'invalid or expired token');
    return { principal: { name: account.name, admin: false, kind: 'service', grants: verified.access }, owners: [account.name], expires };
  }

  private async platform(accessKey: string, secretKey: string, context: AuthContext): Promise<Verified> {
    const label = `ak:${accessKey.slice(0, 64)}`;
    this.throttled(label, context);
    const account = await this.deps.serviceAccounts.get(accessKey);
    const ok = account !== undefined && secretMatches(secretKey, account.secretHash) && !account.disabled;
    if (!ok || !account) {
      this.deps.throttle.recordFailure(label, context.ip);
      await this.deps.audit.record({ actor: label, action: 'login.failed', target: label, ip: context.ip, detail: 'via platform', project: null });
      throw new RegistryError('UNAUTHORIZED', 'invalid access key or secret key');
    }
    this.deps.throttle.recordSuccess(label);
    if (context.uid !== undefined && context.uid !== '') {
      const user = await this.deps.users.getByName(context.uid);
      if (!user || user.disabled) throw new RegistryError('UNAUTHORIZED', 'the user named by X-BKREPO-UID does not exist or is disabled');
      await this.deps.audit.record({ actor: user.name, action: 'login', target: user.name, ip: context.ip, detail: `via platform account ${account.name}`, project: null });
      return { principal: userPrincipal(user), owners: [account.name, user.name] };
    }
    await this.deps.audit.record({ actor: account.name, action: 'login', target: account.name, ip: context.ip, detail: 'via platform', project: null });
    return { principal: { name: account.name, admin: false, kind: 'service' }, owners: [account.name] };
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    return this.dummyHash;
  }
}

function userPrincipal(user: UserRecord): Principal {
  return { name: user.name, admin: user.admin, kind: 'user' };
}
