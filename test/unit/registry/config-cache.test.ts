import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../../../src/domain/digest.ts';
import { CONFIG_CACHE_BYTES, CONFIG_CACHE_ENTRY_BYTES, ConfigCache, mayBeConfig } from '../../../src/registry/config-cache.ts';

const digest = (n: number): Digest => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;

describe('ConfigCache', () => {
  it("keeps an exact-size copy, not the caller's buffer or its pool slab", () => {
    const cache = new ConfigCache();
    const bytes = Buffer.from('{"os":"linux"}'); // a slice of Buffer's shared 8 KiB pool
    cache.remember(digest(1), bytes);
    bytes.fill(0);
    const kept = cache.get(digest(1))!;
    assert.equal(kept.toString(), '{"os":"linux"}');
    assert.equal(kept.buffer.byteLength, kept.length, 'its own backing store');
  });

  it('skips configs over the entry limit', () => {
    const cache = new ConfigCache();
    cache.remember(digest(1), Buffer.alloc(CONFIG_CACHE_ENTRY_BYTES + 1, 0x7b));
    cache.remember(digest(2), Buffer.alloc(CONFIG_CACHE_ENTRY_BYTES, 0x7b));
    assert.equal(cache.get(digest(1)), undefined);
    assert.equal(cache.get(digest(2))?.length, CONFIG_CACHE_ENTRY_BYTES);
  });

  it('drops the least recently used past its byte bound', () => {
    const cache = new ConfigCache();
    const per = CONFIG_CACHE_ENTRY_BYTES;
    const fits = CONFIG_CACHE_BYTES / per;
    for (let n = 0; n < fits; n++) cache.remember(digest(n), Buffer.alloc(per, n));
    assert.ok(cache.get(digest(0)), 'the first one, now the most recently used');
    cache.remember(digest(fits), Buffer.alloc(per, 1));
    assert.ok(cache.get(digest(0)), 'kept: it was used');
    assert.equal(cache.get(digest(1)), undefined, 'dropped: the least recently used');
    assert.ok(cache.get(digest(fits)));
  });
});

describe('mayBeConfig', () => {
  it('takes JSON objects, not gzip, tar or empty heads', () => {
    assert.equal(mayBeConfig(Buffer.from('{"a":1}')), true);
    assert.equal(mayBeConfig(Buffer.from([0x1f, 0x8b, 0x08])), false);
    assert.equal(mayBeConfig(Buffer.from('etc/passwd')), false);
    assert.equal(mayBeConfig(Buffer.alloc(0)), false);
  });
});
