import { createHash, timingSafeEqual } from 'node:crypto';
import { RegistryError } from '../domain/errors.ts';
import type { UserStore } from '../metadata/metadata-store.ts';
import type { Authenticator, Principal } from './principal.ts';
import { verifyPassword } from './passwords.ts';

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;

interface CacheEntry {
  principal: Principal;
  expires: number;
  /** sha256 of the exact header, compared in constant time. */
  key: Buffer;
}

/** Parses `Basic base64(user:password)`; undefined when the header is not Basic or is malformed. */
export function parseBasic(header: string): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * HTTP Basic against the user store. A verified header is cached for a minute (keyed by its
 * sha256, never the secret itself), so clients that send Basic on every request do not pay the
 * KDF each time.
 */
export class BasicAuthenticator implements Authenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly users: UserStore,
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal | undefined> {
    if (authorization === undefined || authorization === '') return undefined;
    const key = createHash('sha256').update(authorization).digest();
    const id = key.toString('base64');
    const hit = this.cache.get(id);
    if (hit && hit.expires > this.now() && timingSafeEqual(hit.key, key)) return hit.principal;

    const credentials = parseBasic(authorization);
    if (!credentials) throw new RegistryError('UNAUTHORIZED', 'unsupported or malformed Authorization header');
    const user = await this.users.getByName(credentials.user);
    const ok = user !== undefined && !user.disabled && (await verifyPassword(user.passwordHash, credentials.password));
    if (!ok || !user) throw new RegistryError('UNAUTHORIZED', 'invalid username or password');

    const principal: Principal = { name: user.name, admin: user.admin };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(id, { principal, expires: this.now() + CACHE_TTL_MS, key });
    return principal;
  }

  /** Forgets cached verifications (after a password change or a user is disabled). */
  invalidate(): void {
    this.cache.clear();
  }
}
