import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.ts';

/** A content digest `algorithm:encoded`. Only sha256 and sha512 are accepted for content. */
export type Digest = string & { readonly __digest: unique symbol };

const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const ENCODED = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ } as const;
export type DigestAlgorithm = keyof typeof ENCODED;

/** True for a well-formed digest of a supported algorithm. */
export function isDigest(value: string): value is Digest {
  if (value.length > 200 || !DIGEST_GRAMMAR.test(value)) return false;
  const idx = value.indexOf(':');
  const algorithm = value.slice(0, idx);
  const pattern = ENCODED[algorithm as DigestAlgorithm];
  return pattern !== undefined && pattern.test(value.slice(idx + 1));
}

/** Parses a digest or throws `DIGEST_INVALID` (unsupported algorithm, bad encoding). */
export function parseDigest(value: string | undefined, what = 'digest'): Digest {
  if (value === undefined || value === '') throw new RegistryError('DIGEST_INVALID', `${what} is missing`);
  if (!isDigest(value)) {
    throw new RegistryError('DIGEST_INVALID', `${what} is not a valid sha256 or sha512 digest`, { digest: value.slice(0, 200) });
  }
  return value;
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}
