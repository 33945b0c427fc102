import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Digest } from '../../../src/domain/digest.ts';
import { Repositories } from '../../../src/registry/repositories.ts';
import { Uploads } from '../../../src/registry/uploads.ts';
import { useTestDeps } from '../../support/registry-deps.ts';

const NAME = 'proj/repo/app';
const ctx = { actor: 'admin', mayCreate: true };
const body = (bytes: Buffer): Readable => Readable.from([bytes]);
const sha256 = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

describe('Uploads: running hashes of uploads in progress', () => {
  const t = useTestDeps();

  it('keeps at most its bound, and an upload whose hash was dropped still finishes with the right digest', async () => {
    const uploads = new Uploads(t.deps, new Repositories(t.deps), undefined, 2);
    const held = () => (uploads as unknown as { hashes: Map<string, unknown> }).hashes.size;
    const parts = [0, 1, 2].map((n) => [Buffer.alloc(1000, 0x61 + n), Buffer.alloc(500, 0x71 + n)] as const);
    const ids: string[] = [];
    for (const [first] of parts) {
      const { id } = await uploads.start(NAME, ctx);
      await uploads.append(NAME, id, body(first), undefined, first.length);
      ids.push(id);
    }
    assert.equal(held(), 2, 'the first upload, least recently written, was dropped');
    for (const [n, [first, second]] of parts.entries()) {
      const whole = Buffer.concat([first, second]);
      assert.equal(await uploads.finish(NAME, ids[n]!, sha256(whole), body(second), { start: first.length, end: whole.length - 1 }, second.length), sha256(whole));
    }
    assert.equal(held(), 0, 'finished uploads keep nothing');
  });
});
