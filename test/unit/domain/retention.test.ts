import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expiredTags, globToRegExp, parseRetentionRules } from '../../../src/domain/retention.ts';

const tag = (name: string, pushedAt: number) => ({ name, pushedAt });

describe('retention rules', () => {
  it('globs match whole tags with * and ?, everything else literally', () => {
    assert.ok(globToRegExp('v*').test('v1.2.3'));
    assert.ok(!globToRegExp('v*').test('xv1'));
    assert.ok(globToRegExp('rc-?').test('rc-1'));
    assert.ok(!globToRegExp('rc-?').test('rc-10'));
    assert.ok(!globToRegExp('v1.0').test('v1x0'));
    assert.ok(globToRegExp('*').test('anything'));
  });

  it('keeps the newest keepLast matches per rule; a tag goes when matched and kept by none', () => {
    const tags = [tag('v1', 1), tag('v2', 2), tag('v3', 3), tag('latest', 0), tag('v-old', 4)];
    assert.deepEqual(expiredTags(tags, [{ pattern: 'v*', keepLast: 2 }]).map((t) => t.name), ['v2', 'v1']);
    // A second rule keeping v1 saves it.
    assert.deepEqual(expiredTags(tags, [{ pattern: 'v*', keepLast: 2 }, { pattern: 'v1', keepLast: 1 }]).map((t) => t.name), ['v2']);
    assert.deepEqual(expiredTags(tags, [{ pattern: '*', keepLast: 0 }]).length, 5);
    assert.deepEqual(expiredTags(tags, []), []);
    // Equal push times: the name decides, so the outcome never depends on row order.
    assert.deepEqual(expiredTags([tag('b', 1), tag('a', 1)], [{ pattern: '*', keepLast: 1 }]).map((t) => t.name), ['b']);
  });

  it('parses an array or {rules}, refusing anything malformed', () => {
    assert.deepEqual(parseRetentionRules([{ pattern: 'v*', keepLast: 3 }]), [{ pattern: 'v*', keepLast: 3 }]);
    assert.deepEqual(parseRetentionRules({ rules: [] }), []);
    for (const bad of [null, 'v*', [{ pattern: 'v*' }], [{ pattern: '../x', keepLast: 1 }], [{ pattern: 'v*', keepLast: 1.5 }], Array(51).fill({ pattern: 'a', keepLast: 1 })]) {
      assert.throws(() => parseRetentionRules(bad), /PARAMETER_INVALID|retention|pattern|keepLast/, JSON.stringify(bad));
    }
  });
});
