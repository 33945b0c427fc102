import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuiltImage, type BuiltIndex, buildImage, buildMultiArchIndex, layerDigests, MediaTypes, sha256, writeOciLayout } from '../support/oci-image-builder.ts';
import { basicAuth, type ServerProcess, startServerProcess } from '../support/server-process.ts';
import { type PulledImage, readDirPull, readOciPull, skopeo, skopeoOk } from '../support/skopeo.ts';

/**
 * End to end with a real client: skopeo (containers/image) against a Berth server process over
 * plain HTTP with Basic credentials. Images are built in code and written as OCI layouts.
 */
describe('skopeo against a Berth server process', { timeout: 300_000 }, () => {
  let server: ServerProcess;
  let work: string;
  let creds: string;
  let outCount = 0;

  // Distinct content per scenario, so no test passes on blobs another test pushed.
  const single = buildImage({ seed: 'single', labels: { 'io.berth.test.kind': 'oci' } });
  const legacy = buildImage({ seed: 'legacy', layers: 3 });
  const multi = buildMultiArchIndex('multi');
  const nested = buildImage({ seed: 'nested', layers: 1 });
  const doomed = buildImage({ seed: 'doomed' });
  const list = buildMultiArchIndex('list');
  // Large enough that skopeo and the server stream it in many chunks.
  const big = buildImage({ seed: 'big', layers: 1, payloadBytes: 12 * 1024 * 1024 });
  const shared = buildImage({ seed: 'parallel', layers: 3, payloadBytes: 1024 * 1024 });
  const layouts: Record<string, string> = {};

  const ref = (name: string) => `docker://${server.host}/${name}`;
  const copyArgs = () => ['--src-creds', creds, '--dest-creds', creds, '--src-tls-verify=false', '--dest-tls-verify=false'];
  const readArgs = () => ['--creds', creds, '--tls-verify=false'];
  const out = (label: string) => join(work, `out-${++outCount}-${label}`);

  /** Pushes `image` from its layout; returns the manifest digest skopeo wrote. */
  async function push(layout: string, dest: string, ...extra: string[]): Promise<string> {
    const digestFile = out('digest');
    await skopeoOk(['copy', ...copyArgs(), ...extra, '--digestfile', digestFile, `oci:${layout}:v1`, ref(dest)]);
    return (await readFile(digestFile, 'utf8')).trim();
  }

  async function pullOci(source: string, ...extra: string[]): Promise<PulledImage> {
    const dir = out('oci');
    await skopeoOk(['copy', ...copyArgs(), ...extra, ref(source), `oci:${dir}:pulled`]);
    return readOciPull(dir, 'pulled');
  }

  async function pullDir(source: string): Promise<PulledImage> {
    const dir = out('dir');
    await skopeoOk(['copy', ...copyArgs(), ref(source), `dir:${dir}`]);
    return readDirPull(dir);
  }

  function assertSameImage(pulled: PulledImage, pushed: BuiltImage, what: string): void {
    assert.deepEqual(pulled.layers, pushed.layers.map((l) => l.digest), `${what}: layer digests`);
    assert.equal(pulled.configDigest, pushed.config.digest, `${what}: config digest`);
  }

  function assertSameIndex(pulled: PulledImage, pushed: BuiltIndex, what: string): void {
    assert.equal(pulled.digest, pushed.digest, `${what}: index digest`);
    assert.equal(pulled.mediaType, MediaTypes.OciIndex, `${what}: index media type`);
    assert.deepEqual(pulled.children.map((c) => c.digest), pushed.children.map((c) => c.digest), `${what}: child manifests`);
    pushed.children.forEach((child, i) => assertSameImage(pulled.children[i]!, child, `${what}: child ${child.platform.architecture}`));
    assert.deepEqual(pulled.layers, layerDigests(pushed), `${what}: every layer`);
  }

  /** Request log lines of the server: method, path (no query) and status. */
  function requests(): { method: string; url: string; status: number }[] {
    return server.logs().filter((l) => l.msg === 'request') as unknown as { method: string; url: string; status: number }[];
  }

  before(async () => {
    server = await startServerProcess();
    creds = `admin:${server.adminPassword}`;
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-skopeo-'));
    for (const [name, image] of Object.entries({ single, legacy, multi, nested, doomed, list, big, shared })) {
      layouts[name] = join(work, `layout-${name}`);
      await writeOciLayout(layouts[name]!, 'v1', image);
    }
  });

  after(async () => {
    await server?.dispose();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pushes a single-arch OCI image and pulls it back by tag and by digest', async () => {
    const digest = await push(layouts.single!, 'demo/docker/app:v1');
    assert.equal(digest, single.digest, 'the manifest is stored as pushed');

    const byTag = await pullOci('demo/docker/app:v1');
    assert.equal(byTag.digest, single.digest);
    assert.equal(byTag.mediaType, MediaTypes.OciManifest);
    assert.deepEqual(byTag.manifest, single.manifest, 'manifest bytes round-trip exactly');
    assertSameImage(byTag, single, 'pull by tag');

    const byDigest = await pullDir(`demo/docker/app@${single.digest}`);
    assert.equal(byDigest.digest, single.digest);
    assertSameImage(byDigest, single, 'pull by digest');

    // Pushing the same image again is a no-op that succeeds.
    assert.equal(await push(layouts.single!, 'demo/docker/app:v1'), single.digest);
    assert.equal((await pullDir('demo/docker/app:v1')).digest, single.digest);
  });

  it('pushes a Docker schema2 image (--format v2s2) and pulls it back by tag and by digest', async () => {
    const digest = await push(layouts.legacy!, 'demo/docker/legacy:v1', '--format', 'v2s2');
    assert.notEqual(digest, legacy.digest, 'skopeo converted the manifest to Docker schema2');

    const byTag = await pullDir('demo/docker/legacy:v1');
    assert.equal(byTag.digest, digest);
    assert.equal(byTag.mediaType, MediaTypes.DockerManifest);
    assert.deepEqual(byTag.layers, legacy.layers.map((l) => l.digest), 'layers are the pushed gzip blobs');
    assert.equal(byTag.configDigest, legacy.config.digest);
    const manifest = JSON.parse(byTag.manifest.toString('utf8')) as { config: { mediaType: string }; layers: { mediaType: string }[] };
    assert.equal(manifest.config.mediaType, MediaTypes.DockerConfig);
    assert.ok(manifest.layers.every((l) => l.mediaType === MediaTypes.DockerLayerGzip));

    const byDigest = await pullDir(`demo/docker/legacy@${digest}`);
    assert.equal(byDigest.digest, digest);
    assert.deepEqual(byDigest.manifest, byTag.manifest);
    assert.deepEqual(byDigest.layers, byTag.layers);
  });

  it('pushes a multi-arch index (--all) and pulls it back by tag and by digest', async () => {
    const digest = await push(layouts.multi!, 'demo/docker/multi:v1', '--all');
    assert.equal(digest, multi.digest);

    assertSameIndex(await pullOci('demo/docker/multi:v1', '--all'), multi, 'pull --all by tag');
    assertSameIndex(await pullOci(`demo/docker/multi@${multi.digest}`, '--all'), multi, 'pull --all by digest');

    // One platform's child on its own, by its digest.
    const arm = multi.children[1]!;
    const child = await pullDir(`demo/docker/multi@${arm.digest}`);
    assert.equal(child.digest, arm.digest);
    assertSameImage(child, arm, 'arm64 child by digest');
  });

  it('pushes a multi-arch Docker manifest list (--all --format v2s2) and pulls each platform back', async () => {
    const digest = await push(layouts.list!, 'demo/docker/list:v1', '--all', '--format', 'v2s2');
    const raw = await skopeoOk(['inspect', '--raw', ...readArgs(), ref('demo/docker/list:v1')]);
    assert.equal(sha256(raw.stdout), digest, 'the list is served as pushed');
    const parsed = JSON.parse(raw.stdout) as { mediaType: string; manifests: { digest: string; mediaType: string; platform: { architecture: string } }[] };
    assert.equal(parsed.mediaType, MediaTypes.DockerManifestList);
    assert.deepEqual(parsed.manifests.map((m) => m.platform.architecture), ['amd64', 'arm64']);
    for (const [i, entry] of parsed.manifests.entries()) {
      assert.equal(entry.mediaType, MediaTypes.DockerManifest);
      const child = await pullDir(`demo/docker/list@${entry.digest}`);
      assert.equal(child.digest, entry.digest);
      assertSameImage(child, list.children[i]!, `list child ${entry.platform.architecture} by digest`);
    }
    // By tag, skopeo picks the platform it is asked for out of the list.
    const dir = out('arm-by-tag');
    await skopeoOk(['--override-arch', 'arm64', '--override-variant', 'v8', 'copy', ...copyArgs(), ref('demo/docker/list:v1'), `dir:${dir}`]);
    const arm = await readDirPull(dir);
    assert.equal(arm.digest, parsed.manifests[1]!.digest);
    assertSameImage(arm, list.children[1]!, 'arm64 out of the list by tag');
  });

  it('streams a large layer through push and pull', async () => {
    assert.ok(big.layers[0]!.size > 12 * 1024 * 1024, 'the layer is incompressible and large');
    const digest = await push(layouts.big!, 'demo/docker/big:v1');
    assert.equal(digest, big.digest);
    const pulled = await pullDir(`demo/docker/big@${big.digest}`);
    assertSameImage(pulled, big, 'large image by digest');
  });

  it('takes parallel pushes of the same blobs into several repositories, projects and one tag', async () => {
    // New projects and repos created concurrently, the same blob committed by racing uploads, and
    // two pushes of one tag at once.
    const targets = ['demo/docker/par1:v1', 'demo/docker/par2:v1', 'demo/par/par3:v1', 'par/docker/par4:v1', 'demo/docker/par1:v1', 'demo/docker/par1:v2'];
    await Promise.all(targets.map((t) => skopeoOk(['copy', ...copyArgs(), `oci:${layouts.shared}:v1`, ref(t)])));
    const pulled = await Promise.all(targets.map((t) => pullDir(t)));
    pulled.forEach((image, i) => {
      assert.equal(image.digest, shared.digest, `${targets[i]}: manifest`);
      assertSameImage(image, shared, targets[i]!);
    });
  });

  it('handles nested image names (demo/docker/team/tool)', async () => {
    const digest = await push(layouts.nested!, 'demo/docker/team/tool:1.0');
    assert.equal(digest, nested.digest);
    assertSameImage(await pullOci('demo/docker/team/tool:1.0'), nested, 'nested by tag');
    assertSameImage(await pullDir(`demo/docker/team/tool@${nested.digest}`), nested, 'nested by digest');
    const tags = JSON.parse((await skopeoOk(['list-tags', ...readArgs(), ref('demo/docker/team/tool')])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['1.0']);
  });

  it('copies between repositories on the same server with blob mounts, and the target reads back', async () => {
    const before = requests().length;
    await skopeoOk(['copy', ...copyArgs(), ref('demo/docker/app:v1'), ref('demo/other/app:copied')]);
    const target = requests().slice(before).filter((r) => r.url.startsWith('/v2/demo/other/app/'));
    // A mount is `POST .../blobs/uploads/?mount=&from=` answered 201; skopeo mounts the layers it
    // knows live in another repository of this registry (it pushed them there).
    const mounts = target.filter((r) => r.method === 'POST' && r.url === '/v2/demo/other/app/blobs/uploads/' && r.status === 201);
    assert.ok(mounts.length >= 1, `expected at least one blob mount into demo/other/app, saw: ${JSON.stringify(target)}`);

    const copied = await pullOci('demo/other/app:copied');
    assert.equal(copied.digest, single.digest, 'a copy within the registry keeps the manifest');
    assertSameImage(copied, single, 'copied image');

    // Across projects too: `other` is created by the push.
    const beforeOther = requests().length;
    await skopeoOk(['copy', ...copyArgs(), ref('demo/docker/app:v1'), ref('other/docker/app:v1')]);
    const otherMounts = requests().slice(beforeOther).filter((r) => r.method === 'POST' && r.url === '/v2/other/docker/app/blobs/uploads/' && r.status === 201);
    assert.ok(otherMounts.length >= 1, 'blobs are mounted across projects');
    assertSameImage(await pullDir('other/docker/app:v1'), single, 'copied into another project');

    // The mount endpoint directly: the config blob into a fresh repository.
    const auth = basicAuth('admin', server.adminPassword!);
    const mount = await fetch(`${server.url}/v2/demo/mounted/app/blobs/uploads/?mount=${single.config.digest}&from=demo/docker/app`, { method: 'POST', headers: { authorization: auth } });
    assert.equal(mount.status, 201, await mount.text());
    assert.equal(mount.headers.get('docker-content-digest'), single.config.digest);
    const head = await fetch(`${server.url}/v2/demo/mounted/app/blobs/${single.config.digest}`, { method: 'HEAD', headers: { authorization: auth } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(single.config.size));
  });

  it('lists tags with skopeo list-tags', async () => {
    await skopeoOk(['copy', ...copyArgs(), ref('demo/docker/app:v1'), ref('demo/docker/app:latest')]);
    await skopeoOk(['copy', ...copyArgs(), ref('demo/docker/app:v1'), ref('demo/docker/app:1.0')]);
    const result = JSON.parse((await skopeoOk(['list-tags', ...readArgs(), ref('demo/docker/app')])).stdout) as { Repository: string; Tags: string[] };
    assert.equal(result.Repository, `${server.host}/demo/docker/app`);
    assert.deepEqual(result.Tags, ['1.0', 'latest', 'v1']);
  });

  it('moves a tag when another image is pushed to it', async () => {
    await push(layouts.nested!, 'demo/docker/moving:t');
    assert.equal((await pullDir('demo/docker/moving:t')).digest, nested.digest);
    await push(layouts.doomed!, 'demo/docker/moving:t');
    const moved = await pullDir('demo/docker/moving:t');
    assert.equal(moved.digest, doomed.digest, 'the tag now names the second image');
    assertSameImage(moved, doomed, 'moved tag');
    // The first image is still there by digest, untagged.
    assert.equal((await pullDir(`demo/docker/moving@${nested.digest}`)).digest, nested.digest);
    const tags = JSON.parse((await skopeoOk(['list-tags', ...readArgs(), ref('demo/docker/moving')])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['t']);
  });

  it('inspects images with skopeo inspect and --raw', async () => {
    const info = JSON.parse((await skopeoOk(['inspect', ...readArgs(), ref('demo/docker/app:v1')])).stdout) as Record<string, unknown>;
    assert.equal(info.Name, `${server.host}/demo/docker/app`);
    assert.equal(info.Digest, single.digest);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.deepEqual(info.Labels, single.labels);
    assert.deepEqual(info.Layers, single.layers.map((l) => l.digest));
    assert.ok((info.RepoTags as string[]).includes('v1'));

    const raw = await skopeoOk(['inspect', '--raw', ...readArgs(), ref(`demo/docker/app@${single.digest}`)]);
    assert.equal(raw.stdout, single.manifest.toString('utf8'), 'inspect --raw returns the manifest byte for byte');
    const config = await skopeoOk(['inspect', '--config', '--raw', ...readArgs(), ref('demo/docker/app:v1')]);
    assert.equal(config.stdout, single.config.bytes.toString('utf8'), 'inspect --config --raw returns the config blob');

    const index = await skopeoOk(['inspect', '--raw', ...readArgs(), ref('demo/docker/multi:v1')]);
    assert.equal(index.stdout, multi.manifest.toString('utf8'));
    const arm = JSON.parse((await skopeoOk(['inspect', '--override-arch', 'arm64', '--override-variant', 'v8', ...readArgs(), ref('demo/docker/multi:v1')])).stdout) as Record<string, unknown>;
    assert.equal(arm.Architecture, 'arm64');
    assert.deepEqual(arm.Layers, multi.children[1]!.layers.map((l) => l.digest));
  });

  it('deletes by digest with skopeo delete; pulls then fail and other repositories are untouched', async () => {
    // Same blobs as demo/docker/app: deleting here must not break the image there.
    const digest = await push(layouts.single!, 'demo/docker/doomed:v1');
    const other = await push(layouts.doomed!, 'demo/docker/doomed:keep');
    await skopeoOk(['delete', ...readArgs(), ref(`demo/docker/doomed@${digest}`)]);

    const byDigest = await skopeo(['copy', ...copyArgs(), ref(`demo/docker/doomed@${digest}`), `dir:${out('deleted')}`]);
    assert.notEqual(byDigest.code, 0, 'pull by digest after delete must fail');
    assert.match(byDigest.stderr, /manifest unknown|not found/i);
    const byTag = await skopeo(['copy', ...copyArgs(), ref('demo/docker/doomed:v1'), `dir:${out('deleted')}`]);
    assert.notEqual(byTag.code, 0, 'the tag went with the manifest');

    const tags = JSON.parse((await skopeoOk(['list-tags', ...readArgs(), ref('demo/docker/doomed')])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['keep']);
    assertSameImage(await pullDir(`demo/docker/doomed@${other}`), doomed, 'the other image of the repository');
    assertSameImage(await pullDir('demo/docker/app:v1'), single, 'the image sharing the blobs');
  });

  it('refuses a Docker schema1 push (--format v2s1) with a message that says what to do', async () => {
    const result = await skopeo(['copy', ...copyArgs(), '--format', 'v2s1', `oci:${layouts.single}:v1`, ref('demo/docker/schema1:v1')]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /manifest invalid/i);
    assert.match(result.stderr, /schema1 manifests are not supported/i);
    assert.match(result.stderr, /v2s2|oci/);
    const inspect = await skopeo(['inspect', ...readArgs(), ref('demo/docker/schema1:v1')]);
    assert.notEqual(inspect.code, 0, 'nothing was tagged');
  });

  it('refuses skopeo without credentials and with a wrong password', async () => {
    const anonymous = await skopeo(['inspect', '--tls-verify=false', '--no-creds', ref('demo/docker/app:v1')]);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /unauthorized|authentication required/i);
    const wrong = await skopeo(['inspect', '--tls-verify=false', '--creds', 'admin:not-the-password', ref('demo/docker/app:v1')]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unauthorized|authentication required|invalid username\/password/i);
  });
});
