import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonValuesWithin, MAX_JSON_VALUES } from '../../../src/domain/json-values.ts';

/** `json` as bytes, padded past 2 * limit bytes so that it is scanned. */
const scanned = (json: string, limit: number) => Buffer.from(json + ' '.repeat(2 * limit + 1));

describe('jsonValuesWithin', () => {
  // Each shape holds `count` values past the document's own (commas plus brackets).
  const shapes: [string, (count: number) => string][] = [
    ['numbers', (count) => `[${Array(count).fill('1').join(',')}]`],
    ['nested arrays', (count) => `${'['.repeat(count)}${']'.repeat(count)}`],
    ['object members', (count) => `{${Array.from({ length: count }, (_, i) => `"k${i}":${i}`).join(',')}}`],
  ];
  for (const [name, shape] of shapes) {
    it(`counts values, not bytes (${name}): at the limit within, one more not`, () => {
      const limit = 10;
      assert.doesNotThrow(() => JSON.parse(shape(limit + 1)));
      assert.equal(jsonValuesWithin(scanned(shape(limit), limit), limit), true);
      assert.equal(jsonValuesWithin(scanned(shape(limit + 1), limit), limit), false);
    });
  }

  it('does not count commas and brackets inside strings, escaped quotes and backslashes included', () => {
    const inside = String.raw`,[{,[{ \" ,,,, \\\" [[[[ \\`;
    // Outside strings: the object's brace, the comma between its members, the array's bracket and its two commas.
    const json = `{"a${inside}": "${inside}", "b": [1, 2, "${inside}"]}`;
    assert.equal((JSON.parse(json) as { b: string[] }).b[2], inside.replaceAll('\\\\', '\\').replaceAll('\\"', '"'));
    assert.equal(jsonValuesWithin(scanned(json, 5), 5), true);
    assert.equal(jsonValuesWithin(scanned(json, 4), 4), false);
  });

  it('judges the densest texts right at the length below which it does not scan, and leaves malformed ones to JSON.parse', () => {
    assert.equal(jsonValuesWithin(Buffer.from('['.repeat(10) + ']'.repeat(10)), 10), true); // 20 bytes, 10 counted
    assert.equal(jsonValuesWithin(Buffer.from('['.repeat(11) + ']'.repeat(11)), 10), false);
    assert.equal(jsonValuesWithin(Buffer.from(`[${'1,'.repeat(10)}1]`), 10), false); // 23 bytes, 11 counted
    assert.equal(jsonValuesWithin(scanned('['.repeat(11), 10), 10), false); // not JSON, but counted
    assert.equal(jsonValuesWithin(scanned(`["${',,,,'.repeat(10)}`, 10), 10), true); // an unterminated string
  });

  it('passes a large real index and refuses 4 MiB of empty arrays', () => {
    const descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 1234, platform: { architecture: 'amd64', os: 'linux', 'os.features': ['x'] } };
    assert.equal(jsonValuesWithin(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: Array(5000).fill(descriptor) }))), true);
    assert.equal(jsonValuesWithin(Buffer.from(`[${'[],'.repeat(1_398_000)}[]]`)), false);
    assert.equal(jsonValuesWithin(Buffer.from(`[${'[],'.repeat(MAX_JSON_VALUES / 2 - 1)}[]]`)), true); // exactly MAX_JSON_VALUES counted
  });
});
