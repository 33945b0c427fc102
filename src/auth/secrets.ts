import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes make leaked secrets recognisable (secret scanners) and tell the kinds apart. */
export const PERSONAL_TOKEN_PREFIX = 'bpat_';
export const REFRESH_TOKEN_PREFIX = 'brft_';

const TOKEN_FORMAT = /^(bpat_|brft_)([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** sha256 hex: enough for high-entropy generated secrets (tokens, secret keys); passwords use argon2. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares a secret with a stored sha256 hex in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = createHash('sha256').update(secret, 'utf8').digest();
  const b = Buffer.from(storedHash, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

export interface GeneratedToken {
  id: string;
  /** The whole token, shown once. */
  token: string;
  secretHash: string;
}

/** A new access or refresh token `<prefix><id>_<secret>`: the id finds the row, the secret is compared hashed. */
export function generateToken(kind: 'personal' | 'refresh'): GeneratedToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const token = `${kind === 'personal' ? PERSONAL_TOKEN_PREFIX : REFRESH_TOKEN_PREFIX}${id}_${secret}`;
  return { id, token, secretHash: hashSecret(token) };
}

/** The token's kind and id when it has the shape of one of ours; undefined otherwise. */
export function parseToken(value: string): { kind: 'personal' | 'refresh'; id: string } | undefined {
  const m = TOKEN_FORMAT.exec(value);
  if (!m) return undefined;
  return { kind: m[1] === PERSONAL_TOKEN_PREFIX ? 'personal' : 'refresh', id: m[2]! };
}

/** A service account's access key (public) and secret key (shown once). */
export function generateAccessKeyPair(): { accessKey: string; secretKey: string; secretHash: string } {
  const accessKey = randomBytes(16).toString('hex');
  const secretKey = randomBytes(32).toString('base64url');
  return { accessKey, secretKey, secretHash: hashSecret(secretKey) };
}
