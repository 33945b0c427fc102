import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALLOWED_METHODS, matchOciRoute } from '../../../../src/http/oci/oci-router.ts';

const HEX = 'c'.repeat(64);
const DIGEST = `sha256:${HEX}`;

describe('matchOciRoute', () => {
  it('matches the base and catalog endpoints, with or without a trailing slash', () => {
    assert.deepEqual(matchOciRoute('/v2'), { kind: 'base' });
    assert.deepEqual(matchOciRoute('/v2/'), { kind: 'base' });
    assert.deepEqual(matchOciRoute('/v2/_catalog'), { kind: 'catalog' });
    assert.deepEqual(matchOciRoute('/v2/_catalog/'), { kind: 'catalog' });
  });

  it('matches tags list for nested names', () => {
    assert.deepEqual(matchOciRoute('/v2/demo/docker/app/tags/list'), { kind: 'tags', name: 'demo/docker/app' });
    assert.deepEqual(matchOciRoute('/v2/demo/docker/team/sub/app/tags/list/'), { kind: 'tags', name: 'demo/docker/team/sub/app' });
  });

  it('matches manifests by tag and by digest, nested names included', () => {
    assert.deepEqual(matchOciRoute('/v2/demo/docker/app/manifests/latest'), { kind: 'manifest', name: 'demo/docker/app', reference: 'latest' });
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/team/app/manifests/${DIGEST}`), {
      kind: 'manifest',
      name: 'demo/docker/team/app',
      reference: DIGEST,
    });
  });

  it('decodes a percent-encoded reference or digest', () => {
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/app/manifests/sha256%3A${HEX}`), { kind: 'manifest', name: 'demo/docker/app', reference: DIGEST });
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/app/blobs/sha256%3a${HEX}`), { kind: 'blob', name: 'demo/docker/app', digest: DIGEST });
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/app/referrers/sha256%3A${HEX}`), { kind: 'referrers', name: 'demo/docker/app', digest: DIGEST });
  });

  it('leaves a malformed percent-encoding as it is rather than throwing', () => {
    assert.deepEqual(matchOciRoute('/v2/demo/docker/app/manifests/%E0%A4%A'), { kind: 'manifest', name: 'demo/docker/app', reference: '%E0%A4%A' });
    assert.deepEqual(matchOciRoute('/v2/demo/docker/app/blobs/%zz'), { kind: 'blob', name: 'demo/docker/app', digest: '%zz' });
  });

  it('does not decode the name (the name grammar refuses % later)', () => {
    assert.deepEqual(matchOciRoute('/v2/demo%2Fdocker/app/manifests/v1'), { kind: 'manifest', name: 'demo%2Fdocker/app', reference: 'v1' });
  });

  it('matches upload start, upload session, blob and referrers', () => {
    assert.deepEqual(matchOciRoute('/v2/demo/docker/app/blobs/uploads/'), { kind: 'uploads', name: 'demo/docker/app' });
    assert.deepEqual(matchOciRoute('/v2/demo/docker/app/blobs/uploads'), { kind: 'uploads', name: 'demo/docker/app' });
    const id = '0b5f6a63-98c4-4f73-9f0d-3a6f4e0f5c11';
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/team/app/blobs/uploads/${id}`), { kind: 'upload', name: 'demo/docker/team/app', id });
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/app/blobs/${DIGEST}`), { kind: 'blob', name: 'demo/docker/app', digest: DIGEST });
    assert.deepEqual(matchOciRoute(`/v2/demo/docker/app/referrers/${DIGEST}`), { kind: 'referrers', name: 'demo/docker/app', digest: DIGEST });
  });

  it('keeps endpoint words that appear inside the name as part of the name', () => {
    assert.deepEqual(matchOciRoute('/v2/demo/docker/tags/manifests/v1'), { kind: 'manifest', name: 'demo/docker/tags', reference: 'v1' });
    assert.deepEqual(matchOciRoute('/v2/demo/blobs/manifests/tags/list'), { kind: 'tags', name: 'demo/blobs/manifests' });
    assert.deepEqual(matchOciRoute(`/v2/demo/manifests/blobs/blobs/${DIGEST}`), { kind: 'blob', name: 'demo/manifests/blobs', digest: DIGEST });
    assert.deepEqual(matchOciRoute('/v2/demo/docker/uploads/blobs/uploads/'), { kind: 'uploads', name: 'demo/docker/uploads' });
  });

  it('matches nothing for other paths', () => {
    for (const path of [
      '/',
      '/v1/_ping',
      '/v3/demo/docker/app/manifests/v1',
      '/v2x',
      '/v2/demo/docker/app',
      '/v2/demo/docker/app/manifests/',
      '/v2/demo/docker/app/manifests/v1/extra',
      '/v2/demo/docker/app/blobs/',
      '/v2/demo/docker/app/unknown/x',
      '/v2//manifests/v1',
      '/docker/api/repo/demo/docker',
    ]) {
      assert.equal(matchOciRoute(path), undefined, path);
    }
  });

  it('answers for any path made of endpoint words as the plain ordered patterns would', () => {
    // The patterns as they were before each got a literal to check first; the first match wins.
    const plain: [RegExp, (m: RegExpExecArray) => Record<string, string>][] = [
      [/^\/v2\/?$/, () => ({ kind: 'base' })],
      [/^\/v2\/_catalog\/?$/, () => ({ kind: 'catalog' })],
      [/^\/v2\/(.+)\/tags\/list\/?$/, (m) => ({ kind: 'tags', name: m[1]! })],
      [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
      [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
      [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
      [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
      [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
    ];
    const expected = (path: string) => {
      for (const [re, build] of plain) {
        const m = re.exec(path);
        if (m) return build(m);
      }
      return undefined;
    };
    const words = ['v2', '', '_catalog', 'tags', 'list', 'manifests', 'blobs', 'uploads', 'referrers', 'app', 'x%2F', 'sha256:0'];
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      const parts = Array.from({ length: 1 + next(7) }, () => words[next(words.length)]!);
      const path = `/${next(8) === 0 ? '' : 'v2/'}${parts.join('/')}`;
      const want = expected(path);
      const got = matchOciRoute(path) as Record<string, string> | undefined;
      // matchOciRoute decodes the last segment; none of these words has an escape it decodes except x%2F.
      if (want && got) for (const k of ['reference', 'digest'] as const) if (want[k]?.includes('%')) want[k] = decodeURIComponent(want[k]!);
      assert.deepEqual(got, want, path);
    }
  });

  it('allows the methods each endpoint implements', () => {
    assert.deepEqual([...ALLOWED_METHODS.manifest].sort(), ['DELETE', 'GET', 'HEAD', 'PUT']);
    assert.deepEqual([...ALLOWED_METHODS.uploads], ['POST']);
    assert.deepEqual([...ALLOWED_METHODS.upload].sort(), ['DELETE', 'GET', 'HEAD', 'PATCH', 'PUT']);
    assert.deepEqual([...ALLOWED_METHODS.blob].sort(), ['DELETE', 'GET', 'HEAD']);
  });
});
