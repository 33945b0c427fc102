/**
 * The MetadataStore contract: the promises of `src/metadata/metadata-store.ts` (namespaces, blob
 * index, manifest index, uploads, users), run against each implementation. A test file calls
 * `metadataStoreContract(name, factory)`; the factory returns a fresh, empty, migrated store and
 * a cleanup that drops whatever it made (temp file, schema, database).
 */
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { digestOf, type Digest } from '../../src/domain/digest.ts';
import { MediaType } from '../../src/domain/media-types.ts';
import { parseRepositoryName } from '../../src/domain/names.ts';
import type { ImageRecord, MetadataStore, NewManifest } from '../../src/metadata/metadata-store.ts';

export interface MetadataStoreFixture {
  store: MetadataStore;
  cleanup: () => Promise<void>;
}

export type MetadataStoreFactory = () => Promise<MetadataStoreFixture>;

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

const digest = (seed: string): Digest => digestOf(Buffer.from(seed));

/** A manifest record with its own bytes; `over` replaces any field. */
function manifest(seed: string, over: Partial<NewManifest> = {}): NewManifest {
  const content = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, seed }));
  const base: NewManifest = {
    digest: digestOf(content),
    mediaType: MediaType.OciManifest,
    artifactType: MediaType.OciConfig,
    size: content.length,
    subject: null,
    configDigest: digest(`config ${seed}`),
    createdAt: T0,
    createdBy: 'alice',
    content,
    totalSize: 0,
    facts: null,
    blobRefs: [digest(`config ${seed}`), digest(`layer ${seed}`)],
    manifestRefs: [],
  };
  return { ...base, ...over };
}

export function metadataStoreContract(name: string, factory: MetadataStoreFactory): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let fixture: MetadataStoreFixture | undefined;
    let store: MetadataStore;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterEach(async () => {
      await store.close();
      await fixture?.cleanup();
      fixture = undefined;
    });
    after(async () => {
      await fixture?.cleanup();
    });

    const image = (full: string, by = 'alice', now = T0): Promise<ImageRecord> =>
      store.namespaces.ensureImage(parseRepositoryName(full), by, now);

    it('ping answers', async () => {
      await store.ping();
    });

    describe('namespaces', () => {
      const project = { name: 'demo', displayName: 'Demo', description: 'first', createdBy: 'alice', createdAt: T0, quotaBytes: null };
      const repo = { project: 'demo', name: 'docker', type: 'DOCKER', public: true, description: 'd', createdBy: 'alice', createdAt: T0, quotaBytes: null, immutableTags: false, retention: [] };

      it('creates and reads a project; a second create leaves the first as it is', async () => {
        assert.equal(await store.namespaces.getProject('demo'), undefined);
        await store.namespaces.createProject(project);
        assert.deepEqual(await store.namespaces.getProject('demo'), project);
        await store.namespaces.createProject({ ...project, displayName: 'Other', description: 'second', createdAt: T0 + 1 });
        assert.deepEqual(await store.namespaces.getProject('demo'), project);
      });

      it('creates and reads a repo with its public flag; a second create leaves the first as it is', async () => {
        await store.namespaces.createProject(project);
        assert.equal(await store.namespaces.getRepo('demo', 'docker'), undefined);
        await store.namespaces.createRepo(repo);
        assert.deepEqual(await store.namespaces.getRepo('demo', 'docker'), repo);
        await store.namespaces.createRepo({ ...repo, public: false, description: 'changed' });
        assert.deepEqual(await store.namespaces.getRepo('demo', 'docker'), repo);
        await store.namespaces.createRepo({ ...repo, name: 'private', public: false });
        assert.equal((await store.namespaces.getRepo('demo', 'private'))?.public, false);
        assert.equal(await store.namespaces.getRepo('other', 'docker'), undefined);
      });

      it('ensureImage creates the image with its name split, then returns the same one', async () => {
        assert.equal(await store.namespaces.getImage('demo/docker/team/app'), undefined);
        const created = await image('demo/docker/team/app', 'alice', T0);
        assert.equal(typeof created.id, 'number');
        assert.deepEqual(
          { ...created, id: 0 },
          { id: 0, name: 'demo/docker/team/app', project: 'demo', repo: 'docker', image: 'team/app', createdBy: 'alice', createdAt: T0 },
        );
        const again = await image('demo/docker/team/app', 'bob', T0 + 5);
        assert.deepEqual(again, created);
        assert.deepEqual(await store.namespaces.getImage('demo/docker/team/app'), created);
      });

      it('concurrent ensureImage calls all return the same image', async () => {
        const results = await Promise.all(Array.from({ length: 12 }, (_, i) => image('demo/docker/race', `user${i}`, T0 + i)));
        const ids = new Set(results.map((r) => r.id));
        assert.equal(ids.size, 1);
        for (const r of results) assert.deepEqual(r, results[0]);
        assert.deepEqual(await store.namespaces.listImageNames({}), ['demo/docker/race']);
      });

      it('different images get different ids', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        assert.notEqual(a.id, b.id);
      });

      it('listImageNames pages in lexical order with last and limit', async () => {
        const names = ['demo/docker/b', 'demo/docker/a/x', 'demo/docker/a', 'other/repo/z', 'demo/docker/a-b', 'demo/alpha/c'];
        for (const n of names) await image(n);
        const sorted = [...names].sort();
        assert.deepEqual(await store.namespaces.listImageNames({}), sorted);
        assert.deepEqual(await store.namespaces.listImageNames({ limit: 2 }), sorted.slice(0, 2));
        assert.deepEqual(await store.namespaces.listImageNames({ last: sorted[1], limit: 2 }), sorted.slice(2, 4));
        assert.deepEqual(await store.namespaces.listImageNames({ last: sorted[3] }), sorted.slice(4));
        assert.deepEqual(await store.namespaces.listImageNames({ last: sorted[5] }), []);
        assert.deepEqual(await store.namespaces.listImageNames({ last: 'demo/docker/a-', limit: 1 }), ['demo/docker/a-b']);
        const paged: string[] = [];
        let last: string | undefined;
        for (;;) {
          const page = await store.namespaces.listImageNames(last === undefined ? { limit: 4 } : { last, limit: 4 });
          paged.push(...page);
          if (page.length < 4) break;
          last = page[page.length - 1];
        }
        assert.deepEqual(paged, sorted);
      });
    });

    describe('blobs', () => {
      it('putBlob records the size and is idempotent', async () => {
        const d = digest('blob');
        assert.equal(await store.blobs.getBlob(d), undefined);
        await store.blobs.putBlob(d, 42, T0);
        await store.blobs.putBlob(d, 42, T0 + 1);
        assert.deepEqual(await store.blobs.getBlob(d), { size: 42 });
      });

      it('keeps sizes beyond 32 bits', async () => {
        const d = digest('huge');
        const size = 5 * 1024 ** 3 + 7;
        await store.blobs.putBlob(d, size, T0);
        assert.deepEqual(await store.blobs.getBlob(d), { size });
        const img = await image('demo/docker/huge');
        await store.blobs.link(img.id, d, T0);
        assert.deepEqual(await store.blobs.getLinked(img.id, d), { size });
      });

      it('getLinkedByName finds a linked blob by the image name only', async () => {
        const a = await image('demo/docker/a');
        await image('demo/docker/b');
        const d = digest('by name');
        await store.blobs.putBlob(d, 11, T0);
        assert.equal(await store.blobs.getLinkedByName('demo/docker/a', d), undefined);
        await store.blobs.link(a.id, d, T0);
        assert.deepEqual(await store.blobs.getLinkedByName('demo/docker/a', d), { size: 11 });
        assert.equal(await store.blobs.getLinkedByName('demo/docker/b', d), undefined);
        assert.equal(await store.blobs.getLinkedByName('demo/docker/none', d), undefined);
      });

      it('link makes the blob visible in that image only; link is idempotent', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const d = digest('shared');
        await store.blobs.putBlob(d, 10, T0);
        assert.equal(await store.blobs.getLinked(a.id, d), undefined);
        await store.blobs.link(a.id, d, T0);
        await store.blobs.link(a.id, d, T0 + 1);
        assert.deepEqual(await store.blobs.getLinked(a.id, d), { size: 10 });
        assert.equal(await store.blobs.getLinked(b.id, d), undefined);
      });

      it('link with an upload id deletes that upload session with the link; a link that fails leaves it', async () => {
        const a = await image('demo/docker/a');
        const d = digest('finished');
        await store.blobs.putBlob(d, 5, T0);
        const session = (id: string) => store.uploads.create({ id, imageId: a.id, createdAt: T0, updatedAt: T0 });
        await session('u1');
        await session('u2');
        assert.equal(await store.blobs.link(a.id, d, T0, 'u1'), true);
        assert.deepEqual(await store.blobs.getLinked(a.id, d), { size: 5 });
        assert.equal(await store.uploads.get('u1'), undefined);
        assert.equal((await store.uploads.get('u2'))?.id, 'u2');
        // Not recorded: no link, the session stays.
        assert.equal(await store.blobs.link(a.id, digest('never recorded'), T0, 'u2'), false);
        assert.equal((await store.uploads.get('u2'))?.id, 'u2');
        // Being deleted by GC: no link, the session stays.
        const doomed = digest('doomed');
        await store.blobs.putBlob(doomed, 7, T0);
        assert.deepEqual((await store.gc.markGarbageBlobs(T0 + 1, undefined, 10)).items, [{ digest: doomed, size: 7 }]);
        assert.equal(await store.blobs.link(a.id, doomed, T0 + 2, 'u2'), false);
        assert.equal(await store.blobs.getLinked(a.id, doomed), undefined);
        assert.equal((await store.uploads.get('u2'))?.id, 'u2');
        // A session already gone does not fail the link.
        assert.equal(await store.blobs.link(a.id, d, T0 + 3, 'gone'), true);
      });

      it('unlink is true once, then false, and leaves other images and the blob record alone', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const d = digest('shared');
        await store.blobs.putBlob(d, 10, T0);
        await store.blobs.link(a.id, d, T0);
        await store.blobs.link(b.id, d, T0);
        assert.equal(await store.blobs.unlink(a.id, d), true);
        assert.equal(await store.blobs.unlink(a.id, d), false);
        assert.equal(await store.blobs.getLinked(a.id, d), undefined);
        assert.deepEqual(await store.blobs.getLinked(b.id, d), { size: 10 });
        assert.deepEqual(await store.blobs.getBlob(d), { size: 10 });
        assert.equal(await store.blobs.unlink(a.id, digest('never linked')), false);
      });

      it('linkedSizes maps exactly the linked digests, ignoring duplicates and unknown ones', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const [d1, d2, d3, d4] = ['1', '2', '3', '4'].map(digest) as [Digest, Digest, Digest, Digest];
        await store.blobs.putBlob(d1, 1, T0);
        await store.blobs.putBlob(d2, 2, T0);
        await store.blobs.putBlob(d3, 3, T0);
        await store.blobs.link(a.id, d1, T0);
        await store.blobs.link(a.id, d2, T0);
        await store.blobs.link(b.id, d3, T0);
        const sizes = await store.blobs.linkedSizes(a.id, [d1, d2, d3, d4, d1]);
        assert.deepEqual([...sizes].sort(), [[d1, 1], [d2, 2]].sort());
        assert.equal((await store.blobs.linkedSizes(a.id, [])).size, 0);
      });

      it('linkedSizes answers for more digests than one query may bind', async () => {
        const a = await image('demo/docker/many');
        const digests = Array.from({ length: 1203 }, (_, i) => digest(`many ${i}`));
        for (const [i, d] of digests.entries()) {
          await store.blobs.putBlob(d, i, T0);
          if (i % 2 === 0) await store.blobs.link(a.id, d, T0);
        }
        const sizes = await store.blobs.linkedSizes(a.id, digests);
        assert.equal(sizes.size, 602);
        assert.equal(sizes.get(digests[1200]!), 1200);
        assert.equal(sizes.has(digests[1201]!), false);
      });
    });

    describe('manifests', () => {
      it('put stores the manifest byte-exact with its record; get answers per image', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const m = manifest('one', { subject: digest('subj'), artifactType: 'application/x-test' });
        assert.equal(await store.manifests.get(a.id, m.digest), undefined);
        await store.manifests.put(a.id, m);
        const got = await store.manifests.get(a.id, m.digest);
        assert.ok(got);
        assert.ok(Buffer.isBuffer(got.content));
        assert.deepEqual(got.content, m.content);
        const { content: _c, totalSize: _t, facts: _f, blobRefs: _b, manifestRefs: _m, ...record } = m;
        const { content: _gc, ...gotRecord } = got;
        assert.deepEqual(Object.fromEntries(Object.entries(gotRecord).filter(([k]) => k in record)), record);
        assert.equal(await store.manifests.get(b.id, m.digest), undefined);
      });

      it('keeps null artifactType, subject and configDigest as null', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('index', { mediaType: MediaType.OciIndex, artifactType: null, configDigest: null, blobRefs: [], manifestRefs: [digest('child')] });
        await store.manifests.put(a.id, m);
        const got = await store.manifests.get(a.id, m.digest);
        assert.equal(got?.artifactType, null);
        assert.equal(got?.subject, null);
        assert.equal(got?.configDigest, null);
        assert.equal(got?.mediaType, MediaType.OciIndex);
      });

      it('put is idempotent by digest: a second put keeps the first record', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('one');
        await store.manifests.put(a.id, m);
        await store.manifests.put(a.id, { ...m, createdAt: T0 + 99, createdBy: 'bob' });
        const got = await store.manifests.get(a.id, m.digest);
        assert.equal(got?.createdAt, T0);
        assert.equal(got?.createdBy, 'alice');
        assert.deepEqual(await store.manifests.missing(a.id, [m.digest]), []);
      });

      it('put with verifyRefs stores a new manifest, then tags the stored one again; refused refs leave nothing', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('verified', { verifyRefs: true });
        for (const d of m.blobRefs) await store.blobs.putBlob(d, 1, T0);
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 });
        // The same manifest again (the row is already there), under a second tag.
        await store.manifests.put(a.id, { ...m, createdAt: T0 + 1 }, { name: 'v2', actor: 'alice', now: T0 + 1 });
        assert.deepEqual((await store.manifests.tagsOf(a.id, m.digest)).sort(), ['v1', 'v2']);
        assert.equal((await store.manifests.get(a.id, m.digest))?.createdAt, T0);
        assert.deepEqual([...(await store.blobs.linkedSizes(a.id, m.blobRefs)).keys()].sort(), [...m.blobRefs].sort());
        const unknown = manifest('unknown blob', { verifyRefs: true });
        await assert.rejects(store.manifests.put(a.id, unknown, { name: 'v3', actor: 'alice', now: T0 }), (err: Error & { code?: string }) => err.code === 'MANIFEST_BLOB_UNKNOWN');
        assert.equal(await store.manifests.get(a.id, unknown.digest), undefined);
        assert.equal(await store.manifests.getByTag(a.id, 'v3'), undefined);
      });

      it('put with a tag points the tag at it; getByTag returns the manifest; unknown tags are undefined', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('one');
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 });
        assert.deepEqual((await store.manifests.getByTag(a.id, 'v1'))?.content, m.content);
        assert.equal((await store.manifests.getByTag(a.id, 'v1'))?.digest, m.digest);
        assert.equal(await store.manifests.getByTag(a.id, 'v2'), undefined);
        const b = await image('demo/docker/b');
        assert.equal(await store.manifests.getByTag(b.id, 'v1'), undefined);
      });

      it('findInImage finds a manifest by tag or digest through the image name, with the image id', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const m = manifest('found');
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 });
        const byTag = await store.manifests.findInImage('demo/docker/a', { tag: 'v1' });
        assert.equal(byTag?.imageId, a.id);
        assert.equal(byTag?.manifest.digest, m.digest);
        assert.deepEqual(byTag?.manifest.content, m.content);
        assert.equal((await store.manifests.findInImage('demo/docker/a', { digest: m.digest }))?.manifest.digest, m.digest);
        assert.equal(await store.manifests.findInImage('demo/docker/a', { tag: 'v2' }), undefined);
        assert.equal(await store.manifests.findInImage('demo/docker/b', { tag: 'v1' }), undefined);
        assert.equal(await store.manifests.findInImage('demo/docker/b', { digest: m.digest }), undefined);
        assert.equal(await store.manifests.findInImage('demo/docker/none', { tag: 'v1' }), undefined);
        assert.ok(b.id !== a.id);
      });

      it('a tag moves to the new manifest in one put; the old manifest stays by digest', async () => {
        const a = await image('demo/docker/a');
        const m1 = manifest('one');
        const m2 = manifest('two');
        await store.manifests.put(a.id, m1, { name: 'latest', actor: 'alice', now: T0 });
        await store.manifests.put(a.id, m2, { name: 'latest', actor: 'bob', now: T0 + 1 });
        assert.equal((await store.manifests.getByTag(a.id, 'latest'))?.digest, m2.digest);
        assert.ok(await store.manifests.get(a.id, m1.digest));
        assert.deepEqual(await store.manifests.listTags(a.id, {}), ['latest']);
        // Re-tagging an existing manifest by a put of the same digest also moves the tag.
        await store.manifests.put(a.id, m1, { name: 'latest', actor: 'carol', now: T0 + 2 });
        assert.equal((await store.manifests.getByTag(a.id, 'latest'))?.digest, m1.digest);
      });

      it('concurrent puts of different manifests to one tag leave it on one of them, whole', async () => {
        const a = await image('demo/docker/a');
        const ms = Array.from({ length: 8 }, (_, i) => manifest(`race ${i}`));
        await Promise.all(ms.map((m, i) => store.manifests.put(a.id, m, { name: 'race', actor: `u${i}`, now: T0 + i })));
        const tagged = await store.manifests.getByTag(a.id, 'race');
        assert.ok(tagged);
        const winner = ms.find((m) => m.digest === tagged.digest);
        assert.ok(winner, 'the tag points at one of the pushed manifests');
        assert.deepEqual(tagged.content, winner.content);
        assert.deepEqual(await store.manifests.missing(a.id, ms.map((m) => m.digest)), []);
      });

      it('missing lists the digests that are not manifests of the image, in the order given', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const m1 = manifest('one');
        const m2 = manifest('two');
        await store.manifests.put(a.id, m1);
        await store.manifests.put(b.id, m2);
        const x = digest('x');
        const y = digest('y');
        assert.deepEqual(await store.manifests.missing(a.id, [x, m1.digest, m2.digest, y]), [x, m2.digest, y]);
        assert.deepEqual(await store.manifests.missing(a.id, []), []);
        const many = Array.from({ length: 1100 }, (_, i) => digest(`absent ${i}`));
        assert.deepEqual(await store.manifests.missing(a.id, [...many, m1.digest]), many);
      });

      it('delete removes the manifest and every tag on it, once; other manifests keep theirs', async () => {
        const a = await image('demo/docker/a');
        const m1 = manifest('one');
        const m2 = manifest('two');
        await store.manifests.put(a.id, m1, { name: 'v1', actor: 'alice', now: T0 });
        await store.manifests.put(a.id, m1, { name: 'latest', actor: 'alice', now: T0 });
        await store.manifests.put(a.id, m2, { name: 'v2', actor: 'alice', now: T0 });
        assert.equal(await store.manifests.delete(a.id, m1.digest), true);
        assert.equal(await store.manifests.get(a.id, m1.digest), undefined);
        assert.equal(await store.manifests.getByTag(a.id, 'v1'), undefined);
        assert.equal(await store.manifests.getByTag(a.id, 'latest'), undefined);
        assert.deepEqual(await store.manifests.listTags(a.id, {}), ['v2']);
        assert.deepEqual(await store.manifests.missing(a.id, [m1.digest]), [m1.digest]);
        assert.equal(await store.manifests.delete(a.id, m1.digest), false);
        assert.equal((await store.manifests.getByTag(a.id, 'v2'))?.digest, m2.digest);
      });

      it('a deleted manifest can be pushed again with its references', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('again');
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 });
        await store.manifests.delete(a.id, m.digest);
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 + 1 });
        assert.equal((await store.manifests.getByTag(a.id, 'v1'))?.digest, m.digest);
      });

      it('delete does not touch the same digest in another image', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const m = manifest('shared');
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 });
        await store.manifests.put(b.id, m, { name: 'v1', actor: 'alice', now: T0 });
        assert.equal(await store.manifests.delete(a.id, m.digest), true);
        assert.equal((await store.manifests.getByTag(b.id, 'v1'))?.digest, m.digest);
      });

      it('deleteTag removes only the tag, once', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('one');
        await store.manifests.put(a.id, m, { name: 'v1', actor: 'alice', now: T0 });
        await store.manifests.put(a.id, m, { name: 'v1.0', actor: 'alice', now: T0 });
        assert.equal(await store.manifests.deleteTag(a.id, 'v1'), true);
        assert.equal(await store.manifests.deleteTag(a.id, 'v1'), false);
        assert.equal(await store.manifests.deleteTag(a.id, 'never'), false);
        assert.equal(await store.manifests.getByTag(a.id, 'v1'), undefined);
        assert.ok(await store.manifests.get(a.id, m.digest));
        assert.deepEqual(await store.manifests.listTags(a.id, {}), ['v1.0']);
      });

      it('listTags pages in lexical (code point) order, per image', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const m = manifest('one');
        const tags = ['latest', 'v1.10', 'v1.9', 'V2', 'a', 'B', '_x', 'v1.9-rc', '1.0', 'Z'];
        for (const t of tags) await store.manifests.put(a.id, m, { name: t, actor: 'alice', now: T0 });
        await store.manifests.put(b.id, m, { name: 'other', actor: 'alice', now: T0 });
        const sorted = [...tags].sort(); // UTF-16 order equals byte order for ASCII tags
        assert.deepEqual(await store.manifests.listTags(a.id, {}), sorted);
        assert.deepEqual(await store.manifests.listTags(a.id, { limit: 3 }), sorted.slice(0, 3));
        assert.deepEqual(await store.manifests.listTags(a.id, { last: sorted[2], limit: 3 }), sorted.slice(3, 6));
        assert.deepEqual(await store.manifests.listTags(a.id, { last: sorted[8] }), sorted.slice(9));
        assert.deepEqual(await store.manifests.listTags(a.id, { last: 'zzz' }), []);
        assert.deepEqual(await store.manifests.listTags(a.id, { last: 'v1' }), sorted.filter((t) => t > 'v1'));
        assert.deepEqual(await store.manifests.listTags(b.id, {}), ['other']);
        const c = await image('demo/docker/c');
        assert.deepEqual(await store.manifests.listTags(c.id, {}), []);
        // The same through the image name.
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/a', {}), sorted);
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/a', { last: sorted[2], limit: 3 }), sorted.slice(3, 6));
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/a', { limit: 2 }), sorted.slice(0, 2));
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/a', { last: 'v1' }), sorted.filter((t) => t > 'v1'));
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/b', {}), ['other']);
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/c', {}), []);
        assert.deepEqual(await store.manifests.listTagsByName('demo/docker/none', {}), []);
      });

      it('referrers lists manifests whose subject is the digest, oldest first, in that image only', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const subject = manifest('subject');
        await store.manifests.put(a.id, subject);
        const sig = manifest('signature', { subject: subject.digest, artifactType: 'application/vnd.example.sig', createdAt: T0 + 20 });
        const sbom = manifest('sbom', { subject: subject.digest, artifactType: 'application/vnd.example.sbom', createdAt: T0 + 10 });
        const unrelated = manifest('unrelated', { subject: digest('elsewhere'), createdAt: T0 + 5 });
        const foreign = manifest('foreign', { subject: subject.digest, createdAt: T0 + 1 });
        await store.manifests.put(a.id, sig);
        await store.manifests.put(a.id, sbom);
        await store.manifests.put(a.id, unrelated);
        await store.manifests.put(b.id, foreign);
        const refs = await store.manifests.referrers(a.id, subject.digest);
        assert.deepEqual(refs.map((r) => r.digest), [sbom.digest, sig.digest]);
        assert.equal(refs[0]?.artifactType, 'application/vnd.example.sbom');
        assert.deepEqual(refs[1]?.content, sig.content);
        assert.deepEqual(await store.manifests.referrers(a.id, digest('nobody')), []);
        // Referrers may arrive before their subject, and are listed all the same.
        assert.deepEqual((await store.manifests.referrers(a.id, digest('elsewhere'))).map((r) => r.digest), [unrelated.digest]);
        await store.manifests.delete(a.id, sbom.digest);
        assert.deepEqual((await store.manifests.referrers(a.id, subject.digest)).map((r) => r.digest), [sig.digest]);
      });

      it('totalSizes maps the manifests of the image to their total size', async () => {
        const a = await image('demo/docker/a');
        const b = await image('demo/docker/b');
        const m1 = manifest('one', { totalSize: 1234 });
        const m2 = manifest('two', { totalSize: 6 * 1024 ** 3 });
        const other = manifest('other', { totalSize: 9 });
        await store.manifests.put(a.id, m1);
        await store.manifests.put(a.id, m2);
        await store.manifests.put(b.id, other);
        const sizes = await store.manifests.totalSizes(a.id, [m1.digest, m2.digest, other.digest, digest('absent'), m1.digest]);
        assert.deepEqual(new Map([...sizes].sort()), new Map([[m1.digest, 1234], [m2.digest, 6 * 1024 ** 3]].sort() as [Digest, number][]));
        assert.equal((await store.manifests.totalSizes(a.id, [])).size, 0);
      });

      it('put accepts manifests with many references', async () => {
        const a = await image('demo/docker/a');
        const m = manifest('big', { blobRefs: Array.from({ length: 1500 }, (_, i) => digest(`layer ${i}`)) });
        await store.manifests.put(a.id, m, { name: 'big', actor: 'alice', now: T0 });
        assert.equal((await store.manifests.getByTag(a.id, 'big'))?.digest, m.digest);
      });
    });

    describe('uploads', () => {
      it('creates, reads, touches and deletes an upload record', async () => {
        const a = await image('demo/docker/a');
        const id = '4b7c5a0e-7f4e-4d0c-9a51-0d6f0b8a3e21';
        assert.equal(await store.uploads.get(id), undefined);
        await store.uploads.create({ id, imageId: a.id, createdAt: T0, updatedAt: T0 });
        assert.deepEqual(await store.uploads.get(id), { id, imageId: a.id, createdAt: T0, updatedAt: T0 });
        assert.equal(await store.uploads.touch(id, T0 + 1000), true);
        assert.deepEqual(await store.uploads.get(id), { id, imageId: a.id, createdAt: T0, updatedAt: T0 + 1000 });
        await store.uploads.delete(id);
        assert.equal(await store.uploads.get(id), undefined);
        assert.equal(await store.uploads.touch(id, T0 + 2000), false, 'a session that is gone');
      });

      it('findInImage answers the session with its image, only under that image\'s name', async () => {
        const a = await image('demo/docker/a', 'bob', T0 + 5);
        await image('demo/docker/b');
        const id = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
        assert.equal(await store.uploads.findInImage('demo/docker/a', id), undefined);
        await store.uploads.create({ id, imageId: a.id, createdAt: T0, updatedAt: T0 + 1 });
        assert.deepEqual(await store.uploads.findInImage('demo/docker/a', id), {
          upload: { id, imageId: a.id, createdAt: T0, updatedAt: T0 + 1 },
          image: await store.namespaces.getImage('demo/docker/a'),
        });
        assert.equal((await store.uploads.findInImage('demo/docker/a', id))?.image.createdBy, 'bob');
        assert.equal(await store.uploads.findInImage('demo/docker/b', id), undefined);
        assert.equal(await store.uploads.findInImage('demo/docker/none', id), undefined);
        assert.equal(await store.uploads.findInImage('demo/docker/a', 'missing'), undefined);
        await store.uploads.delete(id);
        assert.equal(await store.uploads.findInImage('demo/docker/a', id), undefined);
      });

      it('touch and delete of an unknown upload are harmless', async () => {
        await store.uploads.touch('missing', T0);
        await store.uploads.delete('missing');
        assert.equal(await store.uploads.get('missing'), undefined);
      });

      it('a second create with the same id rejects', async () => {
        const a = await image('demo/docker/a');
        await store.uploads.create({ id: 'dup', imageId: a.id, createdAt: T0, updatedAt: T0 });
        await assert.rejects(store.uploads.create({ id: 'dup', imageId: a.id, createdAt: T0 + 1, updatedAt: T0 + 1 }));
        assert.equal((await store.uploads.get('dup'))?.createdAt, T0);
      });
    });

    describe('quotas', () => {
      const ns = () => store.namespaces;
      async function setup(projectQuota: number | null, repoQuota: number | null) {
        await ns().createProject({ name: 'qp', displayName: 'qp', description: '', createdBy: 'alice', createdAt: T0, quotaBytes: projectQuota });
        for (const r of ['r1', 'r2']) {
          await ns().createRepo({ project: 'qp', name: r, type: 'DOCKER', public: false, description: '', createdBy: 'alice', createdAt: T0, quotaBytes: r === 'r1' ? repoQuota : null });
        }
      }

      it('usedBytes counts distinct blobs per repo, a shared blob in each repo and once in the project', async () => {
        await setup(null, null);
        const a = await image('qp/r1/a');
        const b = await image('qp/r1/b');
        const c = await image('qp/r2/c');
        await store.blobs.putBlob(digest('q1'), 100, T0);
        await store.blobs.putBlob(digest('q2'), 30, T0);
        for (const img of [a, b, c]) assert.equal(await store.blobs.link(img.id, digest('q1'), T0), true);
        await store.blobs.link(b.id, digest('q2'), T0);
        assert.equal(await store.quotas.usedBytes('qp', 'r1'), 130);
        assert.equal(await store.quotas.usedBytes('qp', 'r2'), 100);
        assert.equal(await store.quotas.usedBytes('qp'), 130);
        assert.equal(await store.quotas.usedBytes('nope'), 0);
      });

      it('link refuses with DENIED over the repo or project quota and leaves no link; already-linked blobs pass', async () => {
        await setup(250, 120);
        const a = await image('qp/r1/a');
        const c = await image('qp/r2/c');
        await store.blobs.putBlob(digest('q1'), 100, T0);
        await store.blobs.putBlob(digest('q2'), 30, T0);
        await store.blobs.putBlob(digest('q3'), 140, T0);
        assert.equal(await store.blobs.link(a.id, digest('q1'), T0), true);
        await assert.rejects(store.blobs.link(a.id, digest('q2'), T0), (err: Error & { code?: string }) => err.code === 'DENIED' && /repo "qp\/r1"/.test(err.message));
        assert.equal(await store.blobs.getLinked(a.id, digest('q2')), undefined);
        // Refused with an upload id: nothing of the transaction stays, the session neither goes.
        await store.uploads.create({ id: 'q-upload', imageId: a.id, createdAt: T0, updatedAt: T0 });
        await assert.rejects(store.blobs.link(a.id, digest('q2'), T0, 'q-upload'), (err: Error & { code?: string }) => err.code === 'DENIED');
        assert.equal(await store.blobs.getLinked(a.id, digest('q2')), undefined);
        assert.equal((await store.uploads.get('q-upload'))?.id, 'q-upload');
        assert.equal(await store.blobs.link(a.id, digest('q1'), T0), true);
        // r2 has no quota of its own; the project holds 100 + 140 = 240 of its 250.
        assert.equal(await store.blobs.link(c.id, digest('q3'), T0), true);
        await assert.rejects(store.blobs.link(c.id, digest('q2'), T0), (err: Error & { code?: string }) => err.code === 'DENIED' && /project "qp"/.test(err.message));
        await assert.rejects(store.quotas.check(c.id, { blobs: [{ digest: digest('q9'), size: 11 }] }), /project "qp"/);
        await store.quotas.check(c.id, { blobs: [{ digest: digest('q9'), size: 10 }] });
      });
    });

    describe('users', () => {
      it('creates users with ids, reads them by name and counts them', async () => {
        assert.equal(await store.users.count(), 0);
        assert.equal(await store.users.getByName('admin'), undefined);
        const admin = await store.users.create({ name: 'admin', passwordHash: '$argon2id$hash', admin: true, disabled: false, createdAt: T0 });
        const bob = await store.users.create({ name: 'bob', passwordHash: 'h2', admin: false, disabled: true, createdAt: T0 + 1 });
        assert.equal(typeof admin.id, 'number');
        assert.notEqual(admin.id, bob.id);
        assert.deepEqual(await store.users.getByName('admin'), admin);
        assert.deepEqual(await store.users.getByName('bob'), { id: bob.id, name: 'bob', passwordHash: 'h2', admin: false, disabled: true, createdAt: T0 + 1 });
        assert.equal(await store.users.count(), 2);
        assert.equal(await store.users.getByName('Admin'), undefined);
      });

      it('every write to credentials moves the credential change counter; reads and writes that change nothing do not', async () => {
        const auth = store.auth;
        const version = () => auth.credentialChanges.version();
        const moves = async (what: string, write: () => Promise<unknown>, by = 1) => {
          const before = await version();
          await write();
          assert.equal(await version(), before + by, what);
        };
        await auth.users.create({ name: 'dave', passwordHash: 'h', admin: false, disabled: false, createdAt: T0 });
        await auth.tokens.create({ id: 'tok1', user: 'dave', name: 'ci', kind: 'personal', secretHash: 's', createdAt: T0, expiresAt: null });
        await auth.tokens.create({ id: 'tok2', user: 'dave', name: 'ci2', kind: 'personal', secretHash: 's', createdAt: T0, expiresAt: null });
        await auth.tokens.create({ id: 'tok3', user: 'dave', name: 'r', kind: 'refresh', secretHash: 's', createdAt: T0, expiresAt: null });
        await auth.serviceAccounts.create({ accessKey: 'ak1', name: 'robot', secretHash: 's', description: '', disabled: false, createdBy: 'dave', createdAt: T0 });
        const start = await version();
        await auth.users.getByName('dave');
        await auth.tokens.get('tok1');
        assert.equal(await version(), start, 'reads and creations do not count');

        await moves('password', () => auth.users.setPassword('dave', 'h2'));
        await moves('disabled', () => auth.users.setDisabled('dave', true));
        await moves('admin', () => auth.users.setAdmin('dave', true));
        await moves('token revoked', () => auth.tokens.revoke('dave', 'ci'));
        await moves('token deleted', () => auth.tokens.deleteById('tok2'));
        await moves('tokens revoked', () => auth.tokens.revokeAll('dave', 'refresh'));
        await moves('account disabled', () => auth.serviceAccounts.setDisabled('ak1', true));
        await moves('account deleted', () => auth.serviceAccounts.delete('ak1'));
        await moves('user deleted', () => auth.users.delete('dave'));

        await moves('nothing to change', async () => {
          assert.equal(await auth.users.setPassword('nobody', 'h'), false);
          assert.equal(await auth.tokens.revoke('dave', 'ci'), false);
          assert.equal(await auth.tokens.revokeAll('dave', 'personal'), 0);
          assert.equal(await auth.serviceAccounts.delete('ak1'), false);
        }, 0);
      });

      it('a second user with the same name is refused', async () => {
        await store.users.create({ name: 'carol', passwordHash: 'h', admin: false, disabled: false, createdAt: T0 });
        await assert.rejects(store.users.create({ name: 'carol', passwordHash: 'other', admin: true, disabled: false, createdAt: T0 }));
        assert.equal((await store.users.getByName('carol'))?.passwordHash, 'h');
        assert.equal(await store.users.count(), 1);
      });
    });
  });
}
