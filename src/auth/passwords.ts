import { hash, verify } from '@node-rs/argon2';

/** Argon2id with parameters that cost about 15-50 ms here: memory-hard, and cached by the authenticator. */
const OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Argon2 runs at most this many at once; others wait their turn. Each run holds memoryCost
 * (19 MiB) for its duration, on one of libuv's four threads: sixteen clients logging in at once
 * took RSS 70 MiB up (four at a time), and left no thread for file reads and writes.
 */
const MAX_CONCURRENT_KDF = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function limited<T>(run: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_KDF) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await run();
  } finally {
    // The slot passes straight to the next in line, if any.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

export function hashPassword(password: string): Promise<string> {
  return limited(() => hash(password, OPTIONS));
}

/** false for a wrong password or a malformed hash; never throws on bad input. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await limited(() => verify(passwordHash, password));
  } catch {
    return false;
  }
}
