/**
 * Property-based tests of the name and tag grammar: the parsers accept exactly what an
 * independent, hand-written reading of the grammar accepts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RegistryError } from '../../../src/domain/errors.ts';
import { isTag, parseRepositoryName } from '../../../src/domain/names.ts';

const RUNS = 2000;
const isAlnum = (c: string) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

/** `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, read character by character. */
function oracleComponent(part: string): boolean {
  if (part.length === 0 || !isAlnum(part[0]!) || !isAlnum(part[part.length - 1]!)) return false;
  let i = 0;
  while (i < part.length) {
    if (isAlnum(part[i]!)) {
      i++;
      continue;
    }
    let j = i;
    while (j < part.length && !isAlnum(part[j]!)) j++;
    const sep = part.slice(i, j);
    if (!(sep === '.' || sep === '_' || sep === '__' || /^-+$/.test(sep))) return false;
    i = j;
  }
  return true;
}

/** Berth's rule: at least three components, project and repo at most 32 characters, 255 in all. */
function oracleName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const parts = name.split('/');
  return parts.length >= 3 && parts.every(oracleComponent) && parts[0]!.length <= 32 && parts[1]!.length <= 32;
}

function oracleTag(tag: string): boolean {
  if (tag.length < 1 || tag.length > 128) return false;
  const word = (c: string) => /^[A-Za-z0-9_]$/.test(c);
  return word(tag[0]!) && [...tag.slice(1)].every((c) => word(c) || c === '.' || c === '-');
}

function accepts(name: string): boolean {
  try {
    const parsed = parseRepositoryName(name);
    assert.equal([parsed.project, parsed.repo, parsed.image].join('/'), name);
    return true;
  } catch (err) {
    assert.ok(err instanceof RegistryError && err.code === 'NAME_INVALID', `unexpected error for ${JSON.stringify(name)}: ${String(err)}`);
    return false;
  }
}

/** Characters that make the interesting cases likely: separators, uppercase, slashes. */
const nameChar = fc.constantFrom('a', 'b', 'z', '0', '9', '.', '_', '-', '/', 'A', ':', ' ', '%');
const component = fc
  .tuple(fc.stringMatching(/^[a-z0-9]{1,6}$/), fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--', '---'), fc.stringMatching(/^[a-z0-9]{1,6}$/)), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([sep, word]) => sep + word).join(''));

describe('repository name grammar properties', () => {
  it('accepts exactly the names the grammar allows (random strings over a tricky alphabet)', () => {
    fc.assert(
      fc.property(fc.string({ unit: nameChar, maxLength: 40 }), (name) => {
        assert.equal(accepts(name), oracleName(name), JSON.stringify(name));
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts every name built from grammar components, and splits it correctly', () => {
    fc.assert(
      fc.property(fc.array(component, { minLength: 3, maxLength: 6 }), (parts) => {
        const name = parts.join('/');
        fc.pre(name.length <= 255 && parts[0]!.length <= 32 && parts[1]!.length <= 32);
        const parsed = parseRepositoryName(name);
        assert.equal(parsed.project, parts[0]);
        assert.equal(parsed.repo, parts[1]);
        assert.equal(parsed.image, parts.slice(2).join('/'));
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts exactly the names the grammar allows (components built with near-miss separators and characters)', () => {
    const nearWord = fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[a-z0-9]{1,4}$/) }, { weight: 1, arbitrary: fc.constantFrom('', 'A', 'a:b', 'é', 'a b') });
    const nearSep = fc.constantFrom('.', '_', '__', '-', '--', '---', '___', '..', '._', '_.', '-_', '_-', '.-', '/', '//');
    const nearComponent = fc
      .tuple(nearWord, fc.array(fc.tuple(nearSep, nearWord), { maxLength: 3 }), fc.constantFrom('', '', '', '.', '-', '_'))
      .map(([head, rest, tail]) => head + rest.map(([sep, word]) => sep + word).join('') + tail);
    fc.assert(
      fc.property(fc.array(nearComponent, { minLength: 1, maxLength: 5 }), (parts) => {
        const name = parts.join('/');
        assert.equal(accepts(name), oracleName(name), JSON.stringify(name));
      }),
      { numRuns: RUNS },
    );
  });

  it('agrees with the grammar on names near the length limits', () => {
    const long = fc
      .tuple(fc.integer({ min: 28, max: 36 }), fc.integer({ min: 28, max: 36 }), fc.integer({ min: 1, max: 260 }))
      .map(([p, r, i]) => `${'p'.repeat(p)}/${'r'.repeat(r)}/${'i'.repeat(i)}`);
    fc.assert(
      fc.property(long, (name) => {
        assert.equal(accepts(name), oracleName(name));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses fewer than three valid components', () => {
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 2 }), (parts) => {
        assert.equal(accepts(parts.join('/')), false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('tag grammar properties', () => {
  const tagChar = fc.constantFrom('a', 'Z', '0', '_', '.', '-', '/', ':', '@', ' ', 'é');

  it('accepts exactly [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: tagChar, maxLength: 12 }), fc.string({ unit: tagChar, minLength: 120, maxLength: 140 }), fc.string()), (tag) => {
        assert.equal(isTag(tag), oracleTag(tag), JSON.stringify(tag));
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts every tag generated from the grammar', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/), (tag) => {
        assert.equal(isTag(tag), true);
      }),
      { numRuns: 500 },
    );
  });
});
