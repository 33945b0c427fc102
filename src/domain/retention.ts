import { RegistryError } from './errors.ts';

/** Keep the `keepLast` most recently pushed tags matching `pattern`, per image. */
export interface RetentionRule {
  /** Glob over the tag: `*` any run of characters, `?` one character; everything else literal. */
  pattern: string;
  keepLast: number;
}

/** A tag as retention sees it. */
export interface RetentionTag {
  name: string;
  /** When the tag was last pushed (epoch ms). */
  pushedAt: number;
}

export const MAX_RETENTION_RULES = 50;
const MAX_PATTERN = 128;
const MAX_KEEP = 100_000;

/** Compiles a tag glob to an anchored RegExp. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
  return new RegExp(`^${body}$`);
}

/** Validates rules from a request body; PARAMETER_INVALID names what is wrong. */
export function parseRetentionRules(input: unknown): RetentionRule[] {
  const list = input !== null && typeof input === 'object' && !Array.isArray(input) && 'rules' in input ? (input as { rules: unknown }).rules : input;
  if (!Array.isArray(list)) throw new RegistryError('PARAMETER_INVALID', 'retention rules must be an array of {pattern, keepLast}');
  if (list.length > MAX_RETENTION_RULES) throw new RegistryError('PARAMETER_INVALID', `at most ${MAX_RETENTION_RULES} retention rules per repo`);
  return list.map((rule, i) => {
    const r = (rule ?? {}) as Record<string, unknown>;
    if (typeof r.pattern !== 'string' || r.pattern.length === 0 || r.pattern.length > MAX_PATTERN || !/^[A-Za-z0-9._*?-]+$/.test(r.pattern)) {
      throw new RegistryError('PARAMETER_INVALID', `rule ${i}: pattern must be 1 to ${MAX_PATTERN} tag characters [A-Za-z0-9._-] and the wildcards * and ?`);
    }
    if (typeof r.keepLast !== 'number' || !Number.isInteger(r.keepLast) || r.keepLast < 0 || r.keepLast > MAX_KEEP) {
      throw new RegistryError('PARAMETER_INVALID', `rule ${i}: keepLast must be an integer from 0 to ${MAX_KEEP}`);
    }
    return { pattern: r.pattern, keepLast: r.keepLast };
  });
}

/**
 * The tags of one image that the rules expire. Each rule ranks the tags it matches by push time
 * (newest first, then by name) and keeps the first `keepLast`; a tag goes when at least one rule
 * matches it and no matching rule keeps it. Tags no rule matches are never touched.
 */
export function expiredTags<T extends RetentionTag>(tags: readonly T[], rules: readonly RetentionRule[]): T[] {
  if (rules.length === 0) return [];
  const kept = new Set<T>();
  const matched = new Set<T>();
  const newestFirst = [...tags].sort((a, b) => b.pushedAt - a.pushedAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const rule of rules) {
    const re = globToRegExp(rule.pattern);
    let n = 0;
    for (const tag of newestFirst) {
      if (!re.test(tag.name)) continue;
      matched.add(tag);
      if (n++ < rule.keepLast) kept.add(tag);
    }
  }
  return newestFirst.filter((t) => matched.has(t) && !kept.has(t));
}
