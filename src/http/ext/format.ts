import { RegistryError } from '../../domain/errors.ts';
import type { OffsetPage } from '../../metadata/image-store.ts';

/** The seed's date form: `2020-08-28 04:07:12.672Z` (UTC). */
export function formatDate(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ');
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 1000;

/** 1-based pages; 0 means 1; size 1..1000 (schema-validated before this). */
export function toOffsetPage(pageNumber: number | undefined, pageSize: number | undefined): OffsetPage {
  const size = pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new RegistryError('PARAMETER_INVALID', `pageSize must be 1..${MAX_PAGE_SIZE}`);
  }
  const number = Math.max(1, pageNumber ?? 1);
  return { offset: (number - 1) * size, limit: size };
}

/** Splits `a/b/c/last` into the image name and its last segment. */
export function splitLast(path: string, what: string): [string, string] {
  const i = path.lastIndexOf('/');
  if (i <= 0 || i === path.length - 1) throw new RegistryError('PARAMETER_INVALID', `path must end with /{name}/{${what}}`);
  return [path.slice(0, i), path.slice(i + 1)];
}
