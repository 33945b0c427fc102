/** Property-based tests of the manifest parser: it fails only with RegistryError, and keeps what it is given. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RegistryError } from '../../../src/domain/errors.ts';
import { MAX_MANIFEST_BYTES, parseManifest, type Descriptor } from '../../../src/domain/manifest.ts';
import { IMAGE_MANIFEST_TYPES, MANIFEST_TYPES, MediaType } from '../../../src/domain/media-types.ts';

const RUNS = 500;
const mediaTypes = Object.values(MediaType);

const contentType = fc.option(
  fc.oneof(fc.constantFrom(...mediaTypes, 'application/json', 'application/octet-stream', ''), fc.string(), fc.constantFrom(...mediaTypes).map((t) => `${t.toUpperCase()}; charset=utf-8`)),
  { nil: undefined },
);

/** Calls the parser; any throw other than a RegistryError fails the property. */
function parseOrRegistryError(bytes: Uint8Array, ct: string | undefined): ReturnType<typeof parseManifest> | undefined {
  try {
    return parseManifest(bytes, ct);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw new Error(`non-RegistryError thrown: ${String(err)}`, { cause: err });
    assert.equal(err.code, 'MANIFEST_INVALID');
    assert.ok(err.status === 400 || err.status === 413);
    return undefined;
  }
}

const hex64 = fc.stringMatching(/^[a-f0-9]{64}$/);
const digestArb = fc.oneof({ weight: 4, arbitrary: hex64.map((h) => `sha256:${h}`) }, { weight: 1, arbitrary: fc.stringMatching(/^[a-f0-9]{128}$/).map((h) => `sha512:${h}`) });
const nonEmpty = fc.string({ minLength: 1, maxLength: 40 });
const annotations = fc.dictionary(fc.string({ maxLength: 20 }).filter((k) => k !== '__proto__'), fc.string({ maxLength: 20 }), { maxKeys: 4 });
const platform = fc.record(
  { architecture: fc.string({ maxLength: 10 }), os: fc.string({ maxLength: 10 }), variant: fc.string({ maxLength: 5 }), 'os.version': fc.string({ maxLength: 10 }) },
  { requiredKeys: ['architecture', 'os'] },
);

/** A valid descriptor, with any combination of the optional fields. */
const descriptor: fc.Arbitrary<Descriptor> = fc.record(
  {
    mediaType: nonEmpty,
    digest: digestArb,
    size: fc.maxSafeNat(),
    artifactType: fc.string({ maxLength: 30 }),
    annotations,
    platform,
    urls: fc.array(fc.webUrl(), { maxLength: 2 }),
  },
  { requiredKeys: ['mediaType', 'digest', 'size'] },
) as fc.Arbitrary<Descriptor>;

/** Anything, or something close to a descriptor, to reach the deeper branches. */
const maybeDescriptor = fc.oneof(descriptor as fc.Arbitrary<unknown>, fc.jsonValue(), descriptor.map((d) => ({ ...d, size: -1 })), descriptor.map((d) => ({ ...d, digest: d.digest.toUpperCase() })));

const manifestLike = fc.record(
  {
    schemaVersion: fc.oneof(fc.constant(2), fc.constant(1), fc.jsonValue()),
    mediaType: fc.oneof(fc.constantFrom(...mediaTypes), fc.jsonValue()),
    artifactType: fc.oneof(fc.string(), fc.jsonValue()),
    config: maybeDescriptor,
    layers: fc.oneof(fc.array(maybeDescriptor, { maxLength: 4 }), fc.jsonValue()),
    manifests: fc.oneof(fc.array(maybeDescriptor, { maxLength: 4 }), fc.jsonValue()),
    subject: maybeDescriptor,
    annotations: fc.oneof(annotations as fc.Arbitrary<unknown>, fc.jsonValue()),
  },
  { requiredKeys: [] },
);

/** The value as JSON sees it (fast-check may build null-prototype objects, which deepEqual tells apart). */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('parseManifest properties', () => {
  it('random JSON never throws anything but a RegistryError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), contentType, (value, ct) => {
        parseOrRegistryError(Buffer.from(JSON.stringify(value) ?? 'null'), ct);
      }),
      { numRuns: RUNS },
    );
  });

  it('random bytes never throw anything but a RegistryError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), contentType, (bytes, ct) => {
        parseOrRegistryError(bytes, ct);
      }),
      { numRuns: RUNS },
    );
  });

  it('manifest-shaped objects never throw anything but a RegistryError, and what parses is coherent', () => {
    fc.assert(
      fc.property(manifestLike, contentType, (value, ct) => {
        const parsed = parseOrRegistryError(Buffer.from(JSON.stringify(value)), ct);
        if (!parsed) return;
        assert.ok(MANIFEST_TYPES.has(parsed.mediaType));
        if (IMAGE_MANIFEST_TYPES.has(parsed.mediaType)) {
          assert.ok(parsed.config, 'an image manifest has a config');
          assert.deepEqual(parsed.manifests, []);
        } else {
          assert.equal(parsed.config, undefined);
          assert.deepEqual(parsed.layers, []);
        }
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('a body over the limit is always 413, whatever it holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1024 }), contentType, (extra, ct) => {
        assert.throws(() => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + extra, 0x20), ct), (err: unknown) => err instanceof RegistryError && err.status === 413);
      }),
      { numRuns: 20 },
    );
  });

  it('valid image manifests parse and keep every descriptor', () => {
    const imageManifest = fc.record(
      {
        mediaType: fc.constantFrom(MediaType.OciManifest, MediaType.DockerManifest),
        config: descriptor,
        layers: fc.array(descriptor, { maxLength: 6 }),
        subject: descriptor,
        artifactType: fc.string({ maxLength: 30 }),
        annotations,
      },
      { requiredKeys: ['mediaType', 'config', 'layers'] },
    );
    fc.assert(
      fc.property(imageManifest, fc.constantFrom('same', 'none', 'generic'), (generatedManifest, how) => {
        const m = plain(generatedManifest);
        const body = { schemaVersion: 2, ...m };
        const ct = how === 'same' ? m.mediaType : how === 'generic' ? 'application/json' : undefined;
        const parsed = parseManifest(Buffer.from(JSON.stringify(body)), ct);
        assert.equal(parsed.mediaType, m.mediaType);
        assert.deepEqual(parsed.config, m.config);
        assert.deepEqual(parsed.layers, m.layers);
        assert.deepEqual(parsed.manifests, []);
        assert.deepEqual(parsed.subject, m.subject);
        assert.deepEqual(parsed.annotations, m.annotations);
        assert.equal(parsed.artifactType, m.artifactType || m.config.mediaType);
      }),
      { numRuns: RUNS },
    );
  });

  it('valid indexes parse and keep every child descriptor', () => {
    const index = fc.record(
      {
        mediaType: fc.constantFrom(MediaType.OciIndex, MediaType.DockerManifestList),
        manifests: fc.array(descriptor, { maxLength: 6 }),
        subject: descriptor,
        artifactType: fc.string({ maxLength: 30 }),
        annotations,
      },
      { requiredKeys: ['mediaType', 'manifests'] },
    );
    fc.assert(
      fc.property(index, fc.boolean(), (generatedIndex, withHeader) => {
        const m = plain(generatedIndex);
        const parsed = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, ...m })), withHeader ? m.mediaType : undefined);
        assert.equal(parsed.mediaType, m.mediaType);
        assert.deepEqual(parsed.manifests, m.manifests);
        assert.deepEqual(parsed.layers, []);
        assert.equal(parsed.config, undefined);
        assert.deepEqual(parsed.subject, m.subject);
        assert.equal(parsed.artifactType, m.artifactType || undefined, 'an empty artifactType counts as none');
      }),
      { numRuns: RUNS },
    );
  });
});
