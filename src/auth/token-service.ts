import { randomBytes } from 'node:crypto';
import { type CryptoKey, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { RegistryError } from '../domain/errors.ts';
import type { SigningKeyStore } from '../metadata/auth-store.ts';
import type { Grant } from './principal.ts';

const ALG = 'ES256';
/** Clock skew tolerated between nodes and clients, in seconds. */
const CLOCK_TOLERANCE_S = 10;
/** How often an unknown `kid` may trigger a reload of the key table (keys created by other nodes). */
const RELOAD_INTERVAL_MS = 10_000;

export interface TokenServiceOptions {
  /** The `service` of the challenge and the tokens' `aud`. */
  readonly service: string;
  /** The tokens' `iss`. */
  readonly issuer: string;
  /** Lifetime of access tokens, in seconds; long enough to outlast a long push. */
  readonly ttlSeconds: number;
  readonly now?: () => number;
}

export interface IssuedToken {
  token: string;
  /** Seconds. */
  expiresIn: number;
  /** RFC 3339. */
  issuedAt: string;
}

export interface VerifiedToken {
  /** The user or service account; '' for an anonymous token. */
  subject: string;
  access: Grant[];
  /** Epoch seconds. */
  expiresAt: number;
}

interface LoadedKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

function isGrantList(value: unknown): value is Grant[] {
  return (
    Array.isArray(value) &&
    value.every(
      (g) =>
        typeof g === 'object' && g !== null &&
        typeof (g as Grant).type === 'string' &&
        typeof (g as Grant).name === 'string' &&
        Array.isArray((g as Grant).actions) &&
        (g as Grant).actions.every((a) => typeof a === 'string'),
    )
  );
}

const invalid = () => new RegistryError('UNAUTHORIZED', 'invalid or expired token');

/**
 * Issues and verifies the registry's bearer tokens: JWTs per the Docker token-auth spec
 * (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `access`), signed with ES256. The key pair is
 * generated on first start and kept in the metadata database, so every node of a scale-out
 * deployment signs with and accepts the same key. The oldest key signs; all stored keys verify.
 */
export class TokenService {
  private keys = new Map<string, LoadedKey>();
  private signing!: LoadedKey;
  private lastReload = 0;
  private readonly now: () => number;

  private constructor(
    private readonly store: SigningKeyStore,
    readonly options: TokenServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Loads the signing keys, generating and storing the first one when there is none. */
  static async open(store: SigningKeyStore, options: TokenServiceOptions): Promise<TokenService> {
    const service = new TokenService(store, options);
    if ((await store.list()).length === 0) {
      const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
      const kid = randomBytes(12).toString('base64url');
      await store.insert({
        kid,
        alg: ALG,
        privateJwk: JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: ALG }),
        publicJwk: JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: ALG }),
        createdAt: service.now(),
      });
    }
    await service.reload();
    return service;
  }

  private async reload(): Promise<void> {
    this.lastReload = this.now();
    const records = await this.store.list();
    const keys = new Map<string, LoadedKey>();
    for (const r of records) {
      if (r.alg !== ALG) continue;
      const privateKey = (await importJWK(JSON.parse(r.privateJwk) as JWK, ALG)) as CryptoKey;
      const publicKey = (await importJWK(JSON.parse(r.publicJwk) as JWK, ALG)) as CryptoKey;
      keys.set(r.kid, { kid: r.kid, privateKey, publicKey });
    }
    const first = records.find((r) => keys.has(r.kid));
    if (!first) throw new Error('no usable token signing key in the database');
    this.keys = keys;
    this.signing = keys.get(first.kid)!;
  }

  /** A signed access token for `subject` ('' for anonymous) holding exactly `access`. */
  async issue(subject: string, access: readonly Grant[], ttlSeconds = this.options.ttlSeconds): Promise<IssuedToken> {
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const token = await new SignJWT({ access: access.map((g) => ({ type: g.type, name: g.name, actions: [...g.actions] })) })
      .setProtectedHeader({ alg: ALG, typ: 'JWT', kid: this.signing.kid })
      .setIssuer(this.options.issuer)
      .setSubject(subject)
      .setAudience(this.options.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttlSeconds)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.signing.privateKey);
    return { token, expiresIn: ttlSeconds, issuedAt: new Date(iat * 1000).toISOString() };
  }

  /** Whether the string has the shape of a JWT (three base64url parts), not whether it is valid. */
  static looksLikeJwt(value: string): boolean {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value);
  }

  /**
   * The token's subject and grants; throws UNAUTHORIZED for anything but an unexpired ES256 token
   * signed by one of our keys for our service (so `alg: none`, foreign keys, tampering and expiry
   * are all rejected).
   */
  async verify(token: string): Promise<VerifiedToken> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== ALG) throw invalid();
      kid = header.kid;
    } catch {
      throw invalid();
    }
    if (kid === undefined) throw invalid();
    if (!this.keys.has(kid) && this.now() - this.lastReload > RELOAD_INTERVAL_MS) await this.reload();
    const key = this.keys.get(kid);
    if (!key) throw invalid();
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [ALG],
        issuer: this.options.issuer,
        audience: this.options.service,
        requiredClaims: ['exp', 'iat', 'nbf', 'sub', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now()),
      });
      const access = payload.access ?? [];
      if (!isGrantList(access) || typeof payload.sub !== 'string') throw invalid();
      return { subject: payload.sub, access, expiresAt: payload.exp! };
    } catch {
      throw invalid();
    }
  }
}
