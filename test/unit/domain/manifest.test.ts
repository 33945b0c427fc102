import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../../src/domain/digest.ts';
import { RegistryError } from '../../../src/domain/errors.ts';
import { MAX_MANIFEST_BYTES, parseDescriptor, parseManifest, requiredBlobs } from '../../../src/domain/manifest.ts';
import { MAX_JSON_VALUES } from '../../../src/domain/json-values.ts';
import { MediaType } from '../../../src/domain/media-types.ts';

const d = (seed: string) => digestOf(Buffer.from(seed));
const config = { mediaType: MediaType.OciConfig, digest: d('config'), size: 7 };
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('layer'), size: 11 };
const child = { mediaType: MediaType.OciManifest, digest: d('child'), size: 300, platform: { architecture: 'amd64', os: 'linux' } };

const ociManifest = (over: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer], ...over });
const ociIndex = (over: Record<string, unknown> = {}) => ({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [child], ...over });

const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const parse = (value: unknown, contentType?: string) => parseManifest(bytes(value), contentType);

/** Asserts MANIFEST_INVALID (status 400 unless given) with a message matching `pattern`. */
function invalid(pattern: RegExp, status = 400) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${String(err)}`);
    assert.equal(err.code, 'MANIFEST_INVALID');
    assert.equal(err.status, status);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('parseManifest: size and syntax', () => {
  it('refuses a body over 4 MiB with status 413', () => {
    const big = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    assert.throws(() => parseManifest(big, MediaType.OciManifest), invalid(/larger than 4194304 bytes/, 413));
  });

  it('accepts a valid body of exactly 4 MiB', () => {
    const json = JSON.stringify(ociManifest());
    const padded = Buffer.from(json + ' '.repeat(MAX_MANIFEST_BYTES - json.length));
    assert.equal(padded.length, MAX_MANIFEST_BYTES);
    assert.equal(parseManifest(padded, MediaType.OciManifest).mediaType, MediaType.OciManifest);
  });

  it('refuses bytes that are not JSON', () => {
    assert.throws(() => parse('{"schemaVersion":', MediaType.OciManifest), invalid(/not valid JSON/));
    assert.throws(() => parseManifest(Buffer.from('\ufeff{"schemaVersion":2}'), undefined), invalid(/not valid JSON/));
  });

  it('refuses bytes that are not UTF-8, also inside a string JSON.parse would take', () => {
    const json = bytes(ociManifest({ annotations: { note: 'caf\u00e9' } }));
    assert.equal(parseManifest(json, undefined).annotations?.note, 'caf\u00e9');
    const latin1 = Buffer.from(json.toString('utf8').replace('caf\u00e9', 'caf\u00e9'), 'latin1');
    assert.throws(() => parseManifest(latin1, undefined), invalid(/not valid UTF-8/));
    assert.throws(() => parseManifest(Buffer.from([0xff, 0xfe, 0x00]), undefined), invalid(/not valid UTF-8/));
    // A lone surrogate, encoded as UTF-8 would (CESU-8): not UTF-8.
    const surrogate = Buffer.concat([Buffer.from('{"schemaVersion":2,"x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    assert.throws(() => parseManifest(surrogate, undefined), invalid(/not valid UTF-8/));
  });

  it('refuses a manifest of more JSON values than MAX_JSON_VALUES before parsing it', () => {
    const annotations = Object.fromEntries(Array.from({ length: MAX_JSON_VALUES }, (_, i) => [`k${i}`, 'v']));
    assert.throws(() => parse(ociManifest({ annotations })), invalid(/more than 100000 JSON values/));
    // Empty arrays, which JSON.parse took 0.5 s for at 4 MiB, are refused whatever else is wrong.
    assert.throws(() => parseManifest(Buffer.from(`[${'[],'.repeat(1_000_000)}[]]`), undefined), invalid(/more than 100000 JSON values/));
    const fewer = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v']));
    assert.equal(Object.keys(parse(ociManifest({ annotations: fewer })).annotations ?? {}).length, 1000);
  });

  for (const value of ['[]', 'null', '"text"', '2', 'true']) {
    it(`refuses JSON that is not an object: ${value}`, () => {
      assert.throws(() => parse(value, MediaType.OciManifest), invalid(/must be a JSON object/));
    });
  }

  it('reads a body that is a view into a larger buffer', () => {
    const json = bytes(ociManifest());
    const backing = Buffer.concat([Buffer.from('garbage'), json, Buffer.from('trailing')]);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 7, json.length);
    assert.equal(parseManifest(view, undefined).mediaType, MediaType.OciManifest);
  });
});

describe('parseManifest: media type', () => {
  it('refuses schema1 by schemaVersion, by mediaType and by Content-Type, pointing at a fix', () => {
    const schema1 = invalid(/schema1 manifests are not supported.*v2s2/);
    assert.throws(() => parse({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), schema1);
    assert.throws(() => parse({ schemaVersion: 2, mediaType: MediaType.DockerSchema1 }), schema1);
    assert.throws(() => parse({ schemaVersion: 2, mediaType: MediaType.DockerSchema1Signed }), schema1);
    assert.throws(() => parse({ schemaVersion: 2, config, layers: [] }, MediaType.DockerSchema1Signed), schema1);
    assert.throws(() => parse({ schemaVersion: 1 }, MediaType.DockerSchema1), schema1);
  });

  it('refuses a Content-Type that contradicts the body mediaType', () => {
    assert.throws(() => parse(ociManifest(), MediaType.DockerManifest), invalid(/Content-Type .*docker.* does not match .*oci/));
    assert.throws(() => parse(ociIndex(), MediaType.OciManifest), invalid(/does not match/));
  });

  it('compares the Content-Type without parameters and case', () => {
    assert.equal(parse(ociManifest(), `${MediaType.OciManifest.toUpperCase()}; charset=utf-8`).mediaType, MediaType.OciManifest);
  });

  it('ignores generic Content-Types', () => {
    for (const ct of ['application/json', 'application/octet-stream', 'application/json; charset=utf-8', '', '  ']) {
      assert.equal(parse(ociManifest(), ct).mediaType, MediaType.OciManifest, ct);
    }
  });

  it('takes the media type from Content-Type when the body has none', () => {
    const { mediaType: _, ...body } = ociManifest();
    assert.equal(parse(body, MediaType.DockerManifest).mediaType, MediaType.DockerManifest);
    const { mediaType: __, ...index } = ociIndex();
    assert.equal(parse(index, MediaType.DockerManifestList).mediaType, MediaType.DockerManifestList);
  });

  it('guesses OCI manifest or index from the body when neither says', () => {
    const { mediaType: _, ...body } = ociManifest();
    assert.equal(parse(body).mediaType, MediaType.OciManifest);
    const { mediaType: __, ...index } = ociIndex();
    assert.equal(parse(index).mediaType, MediaType.OciIndex);
    assert.equal(parse(index, 'application/json').mediaType, MediaType.OciIndex);
  });

  it('refuses unknown media types, from the body or from the header', () => {
    assert.throws(() => parse(ociManifest({ mediaType: 'application/vnd.example+json' })), invalid(/unsupported manifest media type application\/vnd.example\+json/));
    const { mediaType: _, ...body } = ociManifest();
    assert.throws(() => parse(body, 'text/plain'), invalid(/unsupported manifest media type text\/plain/));
    assert.throws(() => parse(ociManifest({ mediaType: MediaType.OciConfig })), invalid(/unsupported manifest media type/));
  });

  it('refuses a mediaType that is not a string', () => {
    assert.throws(() => parse(ociManifest({ mediaType: 5 })), invalid(/mediaType must be a string/));
  });

  for (const schemaVersion of [undefined, 3, '2', 2.5, null]) {
    it(`refuses schemaVersion ${JSON.stringify(schemaVersion)}`, () => {
      assert.throws(() => parse(ociManifest({ schemaVersion })), invalid(/schemaVersion must be 2/));
    });
  }
});

describe('parseManifest: image manifests', () => {
  it('parses an OCI image manifest with config, layers and annotations', () => {
    const parsed = parse(ociManifest({ annotations: { 'org.opencontainers.image.created': 'now' } }), MediaType.OciManifest);
    assert.deepEqual(parsed, {
      mediaType: MediaType.OciManifest,
      artifactType: MediaType.OciConfig,
      config,
      layers: [layer],
      manifests: [],
      annotations: { 'org.opencontainers.image.created': 'now' },
    });
  });

  it('parses a Docker schema2 manifest', () => {
    const dockerConfig = { ...config, mediaType: MediaType.DockerConfig };
    const parsed = parse({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: dockerConfig, layers: [layer] });
    assert.equal(parsed.mediaType, MediaType.DockerManifest);
    assert.equal(parsed.artifactType, MediaType.DockerConfig);
  });

  it('derives artifactType from the config media type unless the manifest sets one', () => {
    assert.equal(parse(ociManifest()).artifactType, MediaType.OciConfig);
    const artifact = ociManifest({ artifactType: 'application/vnd.example.sbom', config: { ...config, mediaType: MediaType.OciEmpty } });
    assert.equal(parse(artifact).artifactType, 'application/vnd.example.sbom');
    assert.equal(parse(ociManifest({ config: { ...config, mediaType: 'application/vnd.example.cfg' } })).artifactType, 'application/vnd.example.cfg');
    // "If the artifactType is empty or missing in the image manifest, the value of artifactType
    // MUST be set to the config descriptor mediaType value" (distribution-spec, referrers).
    assert.equal(parse(ociManifest({ artifactType: '', config: { ...config, mediaType: 'application/vnd.example.cfg' } })).artifactType, 'application/vnd.example.cfg');
  });

  it('refuses an artifactType that is not a string', () => {
    assert.throws(() => parse(ociManifest({ artifactType: 1 })), invalid(/manifest\.artifactType must be a string/));
  });

  it('requires a config', () => {
    const { config: _, ...body } = ociManifest();
    assert.throws(() => parse(body), invalid(/config is required/));
  });

  it('requires layers in a Docker schema2 manifest but not in an OCI one', () => {
    assert.throws(() => parse({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config }), invalid(/layers is required/));
    const { layers: _, ...body } = ociManifest();
    assert.deepEqual(parse(body).layers, []);
  });

  it('refuses layers that are not an array', () => {
    assert.throws(() => parse(ociManifest({ layers: { 0: layer } })), invalid(/layers must be an array/));
  });

  it('refuses manifests in an image manifest', () => {
    assert.throws(() => parse(ociManifest({ manifests: [] })), invalid(/must not have "manifests"/));
  });

  it('names the bad descriptor: config and layers[i]', () => {
    assert.throws(() => parse(ociManifest({ config: 'sha256:abc' })), invalid(/^config must be a descriptor object/));
    assert.throws(() => parse(ociManifest({ layers: [layer, { ...layer, size: -1 }] })), invalid(/^layers\[1\]\.size/));
  });

  it('parses a subject and refuses a bad one', () => {
    const subject = { mediaType: MediaType.OciManifest, digest: d('subject'), size: 500 };
    assert.deepEqual(parse(ociManifest({ subject })).subject, subject);
    assert.throws(() => parse(ociManifest({ subject: { ...subject, digest: 'sha256:short' } })), invalid(/^subject\.digest/));
    assert.throws(() => parse(ociManifest({ subject: null })), invalid(/^subject must be a descriptor/));
  });

  it('refuses annotations that are not a map of strings', () => {
    assert.throws(() => parse(ociManifest({ annotations: ['a'] })), invalid(/^annotations must be an object of strings/));
    assert.throws(() => parse(ociManifest({ annotations: { a: 1 } })), invalid(/^annotations\["a"\] must be a string/));
  });
});

describe('parseManifest: indexes', () => {
  it('parses an OCI index with platforms', () => {
    const parsed = parse(ociIndex({ annotations: { a: 'b' } }), MediaType.OciIndex);
    assert.deepEqual(parsed, { mediaType: MediaType.OciIndex, layers: [], manifests: [child], annotations: { a: 'b' } });
  });

  it('parses a Docker manifest list', () => {
    const parsed = parse({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [child] });
    assert.equal(parsed.mediaType, MediaType.DockerManifestList);
    assert.deepEqual(parsed.manifests, [child]);
  });

  it('keeps an explicit artifactType and derives none otherwise', () => {
    assert.equal(parse(ociIndex()).artifactType, undefined);
    assert.equal(parse(ociIndex({ artifactType: 'application/vnd.example' })).artifactType, 'application/vnd.example');
  });

  it('requires manifests and accepts an empty list', () => {
    const { manifests: _, ...body } = ociIndex();
    assert.throws(() => parse(body, MediaType.OciIndex), invalid(/manifests is required/));
    assert.deepEqual(parse(ociIndex({ manifests: [] })).manifests, []);
  });

  it('refuses config or layers in an index', () => {
    assert.throws(() => parse(ociIndex({ config })), invalid(/must not have "config" or "layers"/));
    assert.throws(() => parse(ociIndex({ layers: [] })), invalid(/must not have "config" or "layers"/));
  });

  it('names the bad child: manifests[i]', () => {
    assert.throws(() => parse(ociIndex({ manifests: [child, { ...child, platform: { os: 'linux' } }] })), invalid(/^manifests\[1\]\.platform needs architecture and os/));
    assert.throws(() => parse(ociIndex({ manifests: 'x' })), invalid(/^manifests must be an array/));
  });
});

describe('parseDescriptor', () => {
  const ok = { mediaType: 'application/x', digest: d('x'), size: 0 };
  const bad = (value: unknown, pattern: RegExp) => assert.throws(() => parseDescriptor(value, 'desc'), invalid(pattern));

  it('keeps every optional field', () => {
    const full = {
      ...ok,
      artifactType: 'application/vnd.example',
      annotations: { k: 'v' },
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8', 'os.version': '10.0' },
      urls: ['https://example.com/layer'],
    };
    assert.deepEqual(parseDescriptor(full, 'desc'), full);
  });

  it('drops fields it does not know', () => {
    assert.deepEqual(parseDescriptor({ ...ok, data: 'e30=', extra: 1 }, 'desc'), ok);
  });

  it('refuses a non-object', () => {
    for (const v of [null, 'x', 1, []]) bad(v, /desc must be a descriptor object/);
  });

  it('requires a non-empty string mediaType', () => {
    bad({ ...ok, mediaType: undefined }, /desc\.mediaType is required/);
    bad({ ...ok, mediaType: '' }, /desc\.mediaType is required/);
    bad({ ...ok, mediaType: 1 }, /desc\.mediaType must be a string/);
  });

  it('requires a valid digest', () => {
    for (const digest of [undefined, 1, '', 'sha256:xyz', `md5:${'a'.repeat(32)}`]) bad({ ...ok, digest }, /desc\.digest is not a valid digest/);
  });

  it('requires a non-negative safe integer size', () => {
    for (const size of [undefined, -1, 1.5, '1', 2 ** 53, Number.NaN, null]) bad({ ...ok, size }, /desc\.size must be a non-negative integer/);
    assert.equal(parseDescriptor({ ...ok, size: 2 ** 53 - 1 }, 'desc').size, 2 ** 53 - 1);
  });

  it('refuses bad optional fields', () => {
    bad({ ...ok, artifactType: 3 }, /desc\.artifactType must be a string/);
    bad({ ...ok, annotations: 'x' }, /desc\.annotations must be an object of strings/);
    bad({ ...ok, annotations: { k: null } }, /desc\.annotations\["k"\] must be a string/);
    bad({ ...ok, platform: 'linux/amd64' }, /desc\.platform must be an object/);
    bad({ ...ok, platform: { architecture: 'amd64' } }, /desc\.platform needs architecture and os/);
    bad({ ...ok, platform: { architecture: 'amd64', os: 'linux', variant: 8 } }, /desc\.platform\.variant must be a string/);
    bad({ ...ok, platform: { architecture: 'amd64', os: 'linux', 'os.version': 10 } }, /desc\.platform\.os\.version must be a string/);
    bad({ ...ok, urls: 'https://x' }, /desc\.urls must be an array of strings/);
    bad({ ...ok, urls: ['https://x', 1] }, /desc\.urls must be an array of strings/);
  });
});

describe('requiredBlobs', () => {
  it('lists the config and the layers, in order', () => {
    const second = { ...layer, digest: d('second') };
    assert.deepEqual(requiredBlobs(parse(ociManifest({ layers: [layer, second] }))), [config, layer, second]);
  });

  it('skips foreign layers that have urls, keeps layers with an empty urls list', () => {
    const foreign = { mediaType: MediaType.DockerForeignLayer, digest: d('foreign'), size: 5, urls: ['https://example.com/x'] };
    const emptyUrls = { ...layer, digest: d('empty urls'), urls: [] };
    const parsed = parse({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers: [foreign, layer, emptyUrls] });
    assert.deepEqual(parsed.layers, [foreign, layer, emptyUrls]);
    assert.deepEqual(requiredBlobs(parsed), [config, layer, emptyUrls]);
  });

  it('is empty for an index', () => {
    assert.deepEqual(requiredBlobs(parse(ociIndex())), []);
  });
});
