/** The GC rules, run against each metadata store (gc-rules-*.test.ts). */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Digest } from '../../../src/domain/digest.ts';
import { RegistryError } from '../../../src/domain/errors.ts';
import { Fsck } from '../../../src/registry/gc/fsck.ts';
import { buildImage, buildIndex, MediaTypes, sha256, type BuiltImage } from '../../support/oci-image-builder.ts';
import { CTX, HOUR, openHarness, type Harness, type MetadataFactory } from './gc-harness.ts';

const blobsOf = (image: BuiltImage) => [image.config, ...image.layers].map((b) => b.digest);

/** An artifact (a signature, say) whose subject is `subject`. */
function referrer(subject: BuiltImage, seed: string) {
  const empty = Buffer.from('{}');
  const payload = Buffer.from(`signature of ${subject.digest} (${seed})`);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.OciManifest,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length },
      layers: [{ mediaType: 'application/octet-stream', digest: sha256(payload), size: payload.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.manifest.length },
    }),
  );
  return { manifest, digest: sha256(manifest), blobs: [{ bytes: empty, digest: sha256(empty) }, { bytes: payload, digest: sha256(payload) }] };
}

export function gcRulesSuite(name: string, openMetadata: MetadataFactory): void {
  describe(`GC rules: ${name}`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await openHarness(openMetadata);
    });
    afterEach(async () => {
      await h.close();
    });

    it('protects an uploaded, unreferenced blob for the grace period, then deletes bytes and row', async () => {
      const bytes = Buffer.from('a lonely layer');
      const digest = sha256(bytes);
      await h.uploadBlob('demo/docker/app', bytes, digest);
      h.advance(HOUR - 1);
      let s = await h.gc().collect();
      assert.equal(s.blobsDeleted, 0);
      assert.ok(await h.blobExists(digest));
      assert.ok(await h.metadata.blobs.getLinked((await h.repositories.require('demo/docker/app')).id, digest as Digest));
      h.advance(2);
      s = await h.gc().collect();
      assert.equal(s.linksRemoved, 1);
      assert.equal(s.blobsDeleted, 1);
      assert.equal(s.bytesFreed, bytes.length);
      assert.equal(await h.blobExists(digest), false);
    });

    it('a configurable grace period', async () => {
      const bytes = Buffer.from('short grace');
      await h.uploadBlob('demo/docker/app', bytes, sha256(bytes));
      h.advance(60_001);
      assert.equal((await h.gc({ graceMs: 60_000 }).collect()).blobsDeleted, 1);
    });

    it('never deletes blobs a manifest references, however old', async () => {
      const image = buildImage({ seed: 'kept' });
      await h.pushImage('demo/docker/app', 'v1', image);
      h.advance(100 * HOUR);
      const s = await h.gc({ untagged: true }).collect();
      assert.deepEqual([s.blobsDeleted, s.linksRemoved, s.manifestsRemoved], [0, 0, 0]);
      for (const d of blobsOf(image)) assert.ok(await h.blobExists(d));
      assert.ok(await h.manifests.get('demo/docker/app', 'v1'));
    });

    it('shared blobs across images and projects stay while any manifest references them', async () => {
      const image = buildImage({ seed: 'shared' });
      await h.pushImage('p1/docker/a', 'v1', image);
      await h.pushImage('p2/other/b', 'v1', image);
      await h.manifests.delete('p1/docker/a', image.digest);
      h.advance(2 * HOUR);
      let s = await h.gc().collect();
      assert.equal(s.blobsDeleted, 0);
      assert.equal(s.linksRemoved, blobsOf(image).length, "p1's links go, p2's stay");
      for (const d of blobsOf(image)) assert.ok(await h.blobExists(d));
      await h.manifests.delete('p2/other/b', 'v1'); // the tag only: the manifest stays
      s = await h.gc().collect();
      assert.equal(s.blobsDeleted, 0);
      await h.manifests.delete('p2/other/b', image.digest);
      s = await h.gc().collect();
      assert.equal(s.blobsDeleted, blobsOf(image).length);
      for (const d of blobsOf(image)) assert.equal(await h.blobExists(d), false);
    });

    it('a blob linked to one image but referenced by a manifest of another loses only the stale link', async () => {
      const image = buildImage({ seed: 'cross' });
      await h.uploadBlob('demo/docker/a', image.layers[0]!.bytes, image.layers[0]!.digest);
      await h.pushImage('demo/docker/b', 'v1', image);
      h.advance(2 * HOUR);
      const s = await h.gc().collect();
      assert.equal(s.linksRemoved, 1);
      assert.equal(s.blobsDeleted, 0);
      const a = await h.repositories.require('demo/docker/a');
      assert.equal(await h.metadata.blobs.getLinked(a.id, image.layers[0]!.digest as Digest), undefined);
      assert.ok(await h.blobExists(image.layers[0]!.digest));
    });

    it('untagged manifests stay unless the policy is on', async () => {
      const image = buildImage({ seed: 'untagged' });
      await h.pushImage('demo/docker/app', image.digest, image);
      h.advance(2 * HOUR);
      assert.equal((await h.gc().collect()).manifestsRemoved, 0);
      assert.ok(await h.manifests.get('demo/docker/app', image.digest));
      const s = await h.gc({ untagged: true }).collect();
      assert.equal(s.manifestsRemoved, 1);
      assert.equal(s.blobsDeleted, blobsOf(image).length);
      await assert.rejects(h.manifests.get('demo/docker/app', image.digest), (e: unknown) => e instanceof RegistryError && e.code === 'MANIFEST_UNKNOWN');
    });

    it('untagged manifests younger than the grace period stay (children pushed before their index)', async () => {
      const image = buildImage({ seed: 'young' });
      await h.pushImage('demo/docker/app', image.digest, image);
      h.advance(HOUR - 1);
      assert.equal((await h.gc({ untagged: true }).collect()).manifestsRemoved, 0);
    });

    it('children of a tagged index stay; untagging the index frees it and its children', async () => {
      const index = buildIndex([buildImage({ seed: 'idx-amd64' }), buildImage({ seed: 'idx-arm64', architecture: 'arm64' })]);
      await h.pushIndex('demo/docker/multi', 'latest', index);
      h.advance(2 * HOUR);
      let s = await h.gc({ untagged: true }).collect();
      assert.equal(s.manifestsRemoved, 0);
      for (const child of index.children) assert.ok(await h.manifests.get('demo/docker/multi', child.digest));
      await h.manifests.delete('demo/docker/multi', 'latest');
      s = await h.gc({ untagged: true }).collect();
      assert.equal(s.manifestsRemoved, 3);
      assert.equal(s.blobsDeleted, index.children.flatMap(blobsOf).length);
    });

    it('an index child is kept when the same manifest is also referenced from another image only by its own tag', async () => {
      const child = buildImage({ seed: 'both' });
      const index = buildIndex([child]);
      await h.pushIndex('demo/docker/a', 'latest', index);
      await h.pushImage('demo/docker/b', 'v1', child);
      await h.manifests.delete('demo/docker/a', 'latest');
      h.advance(2 * HOUR);
      const s = await h.gc({ untagged: true }).collect();
      assert.equal(s.manifestsRemoved, 2);
      for (const d of blobsOf(child)) assert.ok(await h.blobExists(d), 'b still references them');
    });

    it('referrers of a live manifest stay; they go with their subject', async () => {
      const image = buildImage({ seed: 'signed' });
      await h.pushImage('demo/docker/app', 'v1', image);
      const sig = referrer(image, 'sig');
      for (const b of sig.blobs) await h.uploadBlob('demo/docker/app', b.bytes, b.digest);
      await h.manifests.put('demo/docker/app', sig.digest, sig.manifest, MediaTypes.OciManifest, CTX);
      h.advance(2 * HOUR);
      let s = await h.gc({ untagged: true }).collect();
      assert.equal(s.manifestsRemoved, 0);
      assert.ok(await h.manifests.get('demo/docker/app', sig.digest));
      await h.manifests.delete('demo/docker/app', 'v1');
      s = await h.gc({ untagged: true }).collect();
      assert.equal(s.manifestsRemoved, 2, 'the subject, then its referrer');
      assert.equal(s.blobsDeleted, blobsOf(image).length + sig.blobs.length);
    });

    it('a dry run reports what a real run removes and changes nothing', async () => {
      const kept = buildImage({ seed: 'dry-kept' });
      const gone = buildImage({ seed: 'dry-gone' });
      const index = buildIndex([buildImage({ seed: 'dry-child' })]);
      await h.pushImage('demo/docker/app', 'v1', kept);
      await h.pushImage('demo/docker/app', gone.digest, gone);
      await h.pushIndex('demo/docker/app', index.digest, index);
      const upload = await h.uploads.start('demo/docker/app', CTX);
      h.advance(25 * HOUR);
      const dry = await h.gc({ untagged: true }).collect({ dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.equal(dry.manifestsRemoved, 3, 'the untagged image, the index, then its child');
      assert.equal(dry.blobsDeleted, blobsOf(gone).length + blobsOf(index.children[0]!).length);
      assert.equal(dry.uploadsExpired, 1);
      for (const d of [...blobsOf(gone), ...blobsOf(kept)]) assert.ok(await h.blobExists(d));
      assert.ok(await h.manifests.get('demo/docker/app', gone.digest));
      assert.ok(await h.manifests.get('demo/docker/app', index.children[0]!.digest));
      assert.equal((await h.uploads.status('demo/docker/app', upload.id)).offset, 0);
      const real = await h.gc({ untagged: true }).collect();
      assert.deepEqual(
        { ...real, dryRun: true, durationMs: 0 },
        { ...dry, durationMs: 0 },
      );
      for (const d of blobsOf(gone)) assert.equal(await h.blobExists(d), false);
      for (const d of blobsOf(kept)) assert.ok(await h.blobExists(d));
    });

    it('expires idle upload sessions with their staged bytes', async () => {
      const idle = await h.uploads.start('demo/docker/app', CTX);
      await h.uploads.append('demo/docker/app', idle.id, (await import('node:stream')).Readable.from([Buffer.from('partial')]), undefined, undefined);
      h.advance(23 * HOUR);
      const active = await h.uploads.start('demo/docker/app', CTX);
      h.advance(2 * HOUR);
      const s = await h.gc().collect();
      assert.equal(s.uploadsExpired, 1);
      assert.equal(await h.blobs.uploads.size(idle.id), undefined);
      await assert.rejects(h.uploads.status('demo/docker/app', idle.id), (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_UNKNOWN');
      assert.equal((await h.uploads.status('demo/docker/app', active.id)).offset, 0);
      assert.equal((await h.gc({ uploadTtlMs: HOUR }).collect()).uploadsExpired, 1);
    });

    it('sweeps staged uploads without a session and blob files without a row once older than the grace period', async () => {
      await h.blobs.uploads.create('cut-off-upload');
      const bytes = Buffer.from('bytes nothing records');
      const digest = sha256(bytes) as Digest;
      await h.blobs.uploads.create('orphan');
      await h.blobs.uploads.append('orphan', 0, (await import('node:stream')).Readable.from([bytes]));
      await h.blobs.uploads.commit('orphan', digest);
      const session = await h.uploads.start('demo/docker/app', CTX);
      // The files carry the real time; the test clock starts in 2024, so move it past them.
      h.clock.now = Date.now() + HOUR - 60_000;
      let s = await h.gc().sweepLeftovers();
      assert.deepEqual([s.stagedUploads, s.blobFiles], [0, 0], 'younger than the grace period');
      h.clock.now = Date.now() + HOUR + 60_000;
      s = await h.gc().sweepLeftovers({ dryRun: true });
      assert.deepEqual([s.stagedUploads, s.blobFiles, s.bytes], [1, 1, bytes.length]);
      assert.ok(await h.blobs.stat(digest));
      s = await h.gc().sweepLeftovers();
      assert.deepEqual([s.stagedUploads, s.blobFiles], [1, 1]);
      assert.equal(await h.blobs.stat(digest), undefined);
      assert.equal(await h.blobs.uploads.size('cut-off-upload'), undefined);
      assert.equal(await h.blobs.uploads.size(session.id), 0, 'a session with a row stays (the upload TTL handles it)');
    });

    it('finishes the deletions of an interrupted run', async () => {
      const bytes = Buffer.from('marked, then the process died');
      const digest = sha256(bytes) as Digest;
      await h.uploadBlob('demo/docker/app', bytes, digest);
      h.advance(2 * HOUR);
      await h.metadata.gc.removeStaleLinks(h.clock.now - HOUR, undefined, 100);
      const marked = await h.metadata.gc.markGarbageBlobs(h.clock.now - HOUR, undefined, 100);
      assert.deepEqual(marked.items, [{ digest, size: bytes.length }]);
      assert.ok(await h.blobs.stat(digest), 'bytes still there: the "crash" came before deleting them');
      const s = await h.gc().collect();
      assert.equal(s.blobsResumed, 1);
      assert.equal(s.blobsDeleted, 1);
      assert.equal(await h.blobExists(digest), false);
    });

    describe('the protocol against concurrent writers', () => {
      async function markOne(): Promise<{ digest: Digest; bytes: Buffer }> {
        const bytes = Buffer.from(`about to be collected ${Math.random()}`);
        const digest = sha256(bytes) as Digest;
        await h.uploadBlob('demo/docker/app', bytes, digest);
        h.advance(2 * HOUR);
        await h.metadata.gc.removeStaleLinks(h.clock.now - HOUR, undefined, 100);
        const marked = await h.metadata.gc.markGarbageBlobs(h.clock.now - HOUR, undefined, 100);
        assert.equal(marked.items.length, 1);
        return { digest, bytes };
      }

      it('a blob marked for deletion cannot be linked (a mount falls back to an upload)', async () => {
        const { digest } = await markOne();
        const other = await h.repositories.ensureForPush('demo/docker/other', 'alice', true);
        assert.equal(await h.metadata.blobs.link(other.id, digest, h.clock.now), false);
        assert.equal(await h.metadata.blobs.getLinked(other.id, digest), undefined);
      });

      it('a manifest put referencing a blob marked for deletion fails cleanly, and succeeds after a re-upload', async () => {
        const image = buildImage({ seed: 'race', layers: 1 });
        await h.pushImage('demo/docker/app', 'v1', image);
        await h.manifests.delete('demo/docker/app', image.digest);
        h.advance(2 * HOUR);
        await h.metadata.gc.removeStaleLinks(h.clock.now - HOUR, undefined, 100);
        // The client still holds its links: re-link as a push that checked before GC ran would.
        const app = await h.repositories.require('demo/docker/app');
        const marked = await h.metadata.gc.markGarbageBlobs(h.clock.now - HOUR, undefined, 100);
        assert.equal(marked.items.length, 2);
        // Simulate the check-then-put race: the put's own pre-check is bypassed by calling the store.
        await assert.rejects(
          h.metadata.manifests.put(app.id, {
            digest: image.digest as Digest, mediaType: image.mediaType, artifactType: null, size: image.manifest.length, subject: null,
            configDigest: image.config.digest as Digest, createdAt: h.clock.now, createdBy: 'alice', content: image.manifest, totalSize: 0, facts: null,
            blobRefs: blobsOf(image) as Digest[], manifestRefs: [], verifyRefs: true,
          }),
          (e: unknown) => e instanceof RegistryError && e.code === 'MANIFEST_BLOB_UNKNOWN',
        );
        assert.equal(await h.metadata.manifests.get(app.id, image.digest as Digest), undefined);
        await h.gc().collect(); // finishes the marked deletions
        for (const d of blobsOf(image)) assert.equal(await h.blobExists(d), false);
        await h.pushImage('demo/docker/app', 'v1', image);
        for (const d of blobsOf(image)) assert.ok(await h.blobExists(d));
      });

      it('an upload of a digest being deleted waits for the deletion, then stores the blob afresh', async () => {
        const { digest, bytes } = await markOne();
        const upload = h.uploadBlob('demo/docker/again', bytes, digest);
        await new Promise((r) => setTimeout(r, 100));
        await h.gc().collect(); // deletes bytes, then the row: the waiting upload proceeds
        await upload;
        assert.ok(await h.blobExists(digest));
        const again = await h.repositories.require('demo/docker/again');
        assert.deepEqual(await h.metadata.blobs.getLinked(again.id, digest), { size: bytes.length });
      });

      it('a manifest put re-links blobs whose links GC removed between its check and its transaction', async () => {
        const image = buildImage({ seed: 'relink', layers: 1 });
        for (const b of [image.config, ...image.layers]) await h.uploadBlob('demo/docker/app', b.bytes, b.digest);
        h.advance(HOUR + 1);
        const app = await h.repositories.require('demo/docker/app');
        await h.metadata.gc.removeStaleLinks(h.clock.now - HOUR, undefined, 100);
        assert.equal(await h.metadata.blobs.getLinked(app.id, image.config.digest as Digest), undefined);
        await h.metadata.manifests.put(app.id, {
          digest: image.digest as Digest, mediaType: image.mediaType, artifactType: null, size: image.manifest.length, subject: null,
          configDigest: image.config.digest as Digest, createdAt: h.clock.now, createdBy: 'alice', content: image.manifest, totalSize: 0, facts: null,
          blobRefs: blobsOf(image) as Digest[], manifestRefs: [], verifyRefs: true,
        }, { name: 'v1', actor: 'alice', now: h.clock.now });
        for (const d of blobsOf(image)) assert.ok(await h.metadata.blobs.getLinked(app.id, d as Digest));
        h.advance(10 * HOUR);
        assert.equal((await h.gc().collect()).blobsDeleted, 0);
      });
    });

    describe('fsck', () => {
      it('reports nothing on a sound registry', async () => {
        await h.pushIndex('demo/docker/app', 'latest', buildIndex([buildImage({ seed: 'sound' })]));
        const r = await new Fsck(h.deps).run();
        assert.equal(r.blobsChecked, 2 + 1);
        assert.deepEqual([r.missingBlobs, r.corruptBlobs, r.orphanBlobFiles, r.orphanUploads, r.brokenRefs, r.danglingTags], [[], [], [], [], [], []]);
      });

      it('finds corrupt and missing blobs and orphan bytes; --repair removes them and a re-push heals the manifest', async () => {
        const { writeFile, rm } = await import('node:fs/promises');
        const image = buildImage({ seed: 'damaged', layers: 2 });
        await h.pushImage('demo/docker/app', 'v1', image);
        const [l1, l2] = image.layers as [typeof image.layers[0], typeof image.layers[0]];
        await writeFile(h.blobs.pathOf(l1.digest as Digest), Buffer.alloc(l1.size, 1)); // same size, wrong bytes
        await rm(h.blobs.pathOf(l2.digest as Digest));
        const stray = Buffer.from('stray');
        await h.blobs.uploads.create('stray');
        await h.blobs.uploads.append('stray', 0, (await import('node:stream')).Readable.from([stray]));
        await h.blobs.uploads.commit('stray', sha256(stray) as Digest);
        await h.blobs.uploads.create('cut-off');

        const r = await new Fsck(h.deps).run();
        assert.deepEqual(r.corruptBlobs.map((c) => c.digest), [l1.digest]);
        assert.deepEqual(r.missingBlobs, [l2.digest]);
        assert.deepEqual(r.orphanBlobFiles, [sha256(stray)]);
        assert.deepEqual(r.orphanUploads, ['cut-off']);
        assert.equal(r.brokenRefs.length, 0, 'rows are still there before repair');

        const fixed = await new Fsck(h.deps).run({ repair: true });
        assert.equal(fixed.repaired, true);
        assert.deepEqual(fixed.brokenRefs.map((b) => b.ref).sort(), [l1.digest, l2.digest].sort());
        const after = await new Fsck(h.deps).run();
        assert.deepEqual([after.corruptBlobs, after.missingBlobs, after.orphanBlobFiles, after.orphanUploads], [[], [], [], []]);
        assert.equal(after.brokenRefs.length, 2);

        await h.pushImage('demo/docker/app', 'v1', image);
        const healed = await new Fsck(h.deps).run();
        assert.deepEqual(healed.brokenRefs, []);
      });
    });
  });
}
