/**
 * SQLite limits bound parameters per statement: IN lists and (image, digest) pair lists are
 * split well below it. PostgreSQL takes the same sizes.
 */
export const IN_CHUNK = 500;
export const PAIR_CHUNK = 200;

export function chunked<T>(items: T[], size: number = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
