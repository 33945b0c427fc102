import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseMediaType, IMAGE_MANIFEST_TYPES, INDEX_TYPES, MANIFEST_TYPES, MediaType, SCHEMA1_TYPES } from '../../../src/domain/media-types.ts';

describe('baseMediaType', () => {
  it('drops parameters, trims and lower-cases', () => {
    assert.equal(baseMediaType('Application/JSON; charset=utf-8'), 'application/json');
    assert.equal(baseMediaType(`  ${MediaType.OciManifest}  `), MediaType.OciManifest);
  });

  it('is undefined for a missing or empty header', () => {
    assert.equal(baseMediaType(undefined), undefined);
    assert.equal(baseMediaType(''), undefined);
    assert.equal(baseMediaType(' ; charset=utf-8'), undefined);
  });
});

describe('media type sets', () => {
  it('splits manifests into images and indexes, schema1 apart', () => {
    assert.deepEqual([...MANIFEST_TYPES].sort(), [...IMAGE_MANIFEST_TYPES, ...INDEX_TYPES].sort());
    for (const t of SCHEMA1_TYPES) assert.equal(MANIFEST_TYPES.has(t), false);
    assert.ok(INDEX_TYPES.has(MediaType.DockerManifestList));
    assert.ok(IMAGE_MANIFEST_TYPES.has(MediaType.DockerManifest));
  });
});
