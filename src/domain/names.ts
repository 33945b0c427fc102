import { RegistryError } from './errors.ts';

/** One path component of an OCI repository name. */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;
export const MAX_SEGMENT_LENGTH = 32;

/** `{project}/{repo}/{image}`: the OCI repository name split as PRODUCT.md defines it. */
export interface RepositoryName {
  readonly full: string;
  readonly project: string;
  readonly repo: string;
  /** The image name inside the repo; may itself contain `/`. */
  readonly image: string;
}

export function isNameComponent(value: string): boolean {
  return value.length > 0 && value.length <= MAX_NAME_LENGTH && COMPONENT.test(value);
}

/** True for a project id or repo name: one component, at most 32 characters. */
export function isSegmentName(value: string): boolean {
  return value.length <= MAX_SEGMENT_LENGTH && COMPONENT.test(value);
}

/** Parses an OCI repository name in Berth's `{project}/{repo}/{image}` form, or throws NAME_INVALID. */
export function parseRepositoryName(full: string): RepositoryName {
  const known = parsedNames.get(full);
  if (known) return known;
  const parsed = parseUncached(full);
  if (parsedNames.size >= PARSED_NAMES_MAX) parsedNames.clear();
  parsedNames.set(full, parsed);
  return parsed;
}

/** Valid names seen recently: every /v2 request parses its name several times. Pure, so safe to share. */
const parsedNames = new Map<string, RepositoryName>();
const PARSED_NAMES_MAX = 10_000;

function parseUncached(full: string): RepositoryName {
  if (full.length === 0 || full.length > MAX_NAME_LENGTH) {
    throw new RegistryError('NAME_INVALID', `repository name must be 1 to ${MAX_NAME_LENGTH} characters`, { name: full.slice(0, 300) });
  }
  const parts = full.split('/');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw new RegistryError('NAME_INVALID', 'repository name components must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*', { name: full });
    }
  }
  if (parts.length < 3) {
    throw new RegistryError(
      'NAME_INVALID',
      'repository name must have the form {project}/{repo}/{image}, for example demo/docker/app',
      { name: full },
    );
  }
  const [project, repo] = parts as [string, string];
  for (const [label, value] of [['project', project], ['repo', repo]] as const) {
    if (value.length > MAX_SEGMENT_LENGTH) {
      throw new RegistryError('NAME_INVALID', `${label} name "${value}" is longer than ${MAX_SEGMENT_LENGTH} characters`, { name: full });
    }
  }
  return Object.freeze({ full, project, repo, image: parts.slice(2).join('/') });
}

export function isTag(value: string): boolean {
  return TAG.test(value);
}
