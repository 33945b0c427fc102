/**
 * Crash safety: Berth as a process, killed with SIGKILL at many moments (mid-PATCH, mid-monolithic
 * upload, mid-commit, mid-manifest PUT, during GC, under a mixed load), restarted on the same
 * settings each time. Afterwards: every blob the database knows and a repository links has exactly
 * its bytes, every tag resolves to a manifest, cut-off upload sessions resume or are cleanly
 * unknown, the start-up sweep and GC remove the leftovers, and `berth fsck` finds nothing.
 *
 * The same scenarios and checks run on each stack (test/support/crash-stack.ts): embedded (SQLite +
 * data dir) always; scale-out (PostgreSQL + S3) when BERTH_TEST_DATABASE_URL and
 * BERTH_TEST_S3_ENDPOINT are set (scripts/services/*.sh, `npm run test:all`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CrashStack, openEmbeddedStack, openScaleOutStack, scaleOutTestEnv } from '../support/crash-stack.ts';
import { basicAuth, E2E_ADMIN_PASSWORD, REPO_ROOT, type ServerProcess, startServerProcess } from '../support/server-process.ts';

const AUTH = basicAuth('admin', E2E_ADMIN_PASSWORD);
const MIB = 1024 * 1024;
const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A deterministic pseudo-random generator, so a failing run can be reproduced from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function berthCli(args: string[], extraEnv: Readonly<Record<string, string>>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BERTH_') && !k.startsWith('NODE_TEST')) env[k] = v;
    execFile(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: REPO_ROOT, env: { ...env, ...extraEnv, BERTH_LOG_LEVEL: 'silent' }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A body that trickles out `total` bytes of `bytes` in 256 KiB pieces, pausing between them. */
function trickle(bytes: Buffer, pauseMs: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= bytes.length) return controller.close();
      const end = Math.min(bytes.length, offset + 256 * 1024);
      controller.enqueue(new Uint8Array(bytes.subarray(offset, end)));
      offset = end;
      await sleep(pauseMs);
    },
  });
}

/** The crash suite over one stack; `open` creates a fresh one (data dir, schema, prefix) per run. */
function crashSuite(title: string, open: () => Promise<CrashStack>, timeout: number): void {
  describe(title, { timeout }, () => {
    let stack: CrashStack | undefined;
    let server: ServerProcess | undefined;
    after(async () => {
      await server?.stop();
      await stack?.dispose();
    });

    async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
      const { dataDir, startTimeoutMs } = stack!;
      server = await startServerProcess({ dataDir, startTimeoutMs, env: { ...stack!.env, BERTH_GC_INTERVAL: '0', ...env } });
      return server;
    }

    /** SIGKILL to the server's own PID, then wait until it is gone. */
    async function kill(): Promise<void> {
      const s = server!;
      s.process.child.kill('SIGKILL');
      const status = await s.process.exited;
      assert.equal(status.signal, 'SIGKILL');
      server = undefined;
    }

    function req(path: string, init: Omit<RequestInit, 'body'> & { body?: BodyInit | Buffer } = {}): Promise<Response> {
      const headers = new Headers(init.headers);
      headers.set('authorization', AUTH);
      const body = Buffer.isBuffer(init.body) ? new Uint8Array(init.body.buffer, init.body.byteOffset, init.body.byteLength) : init.body;
      return fetch(`${server!.url}${path}`, { ...init, body, headers, ...(body ? { duplex: 'half' } : {}) } as RequestInit);
    }

    /** A request whose connection the kill cuts: its failure is expected, never awaited as a result. */
    function doomed(promise: Promise<Response>): Promise<number | 'cut'> {
      return promise.then(async (r) => {
        await r.arrayBuffer().catch(() => undefined);
        return r.status;
      }, () => 'cut' as const);
    }

    async function pushBlob(name: string, bytes: Buffer): Promise<void> {
      const res = await req(`/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: bytes });
      assert.equal(res.status, 201, await res.text());
    }

    function manifestOf(config: Buffer, layers: Buffer[]): Buffer {
      return Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
          layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
        }),
      );
    }

    async function pushImage(name: string, tag: string, layers: Buffer[]): Promise<string> {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(8).toString('hex') }));
      for (const b of [config, ...layers]) await pushBlob(name, b);
      const manifest = manifestOf(config, layers);
      const res = await req(`/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: manifest });
      assert.equal(res.status, 201, await res.text());
      return sha256(manifest);
    }

    /** Waits until some staged upload file holds at least `min` bytes (the server is mid-write). */
    async function stagedAtLeast(min: number): Promise<void> {
      for (let i = 0; i < 2000; i++) {
        for (const size of (await stack!.stagedSizes()).values()) if (size >= min) return;
        await sleep(5);
      }
      throw new Error(`no staged upload reached ${min} bytes`);
    }

    /** Sessions cut off by a kill, checked after a restart: resumable from their offset, or unknown. */
    const cutSessions: { name: string; location: string; bytes: Buffer }[] = [];
    /** Blobs whose push was cut: after a restart each is absent or complete. */
    const cutBlobs: { name: string; bytes: Buffer }[] = [];

    it('survives kills at many moments and comes back consistent', async () => {
      stack = await open();
      const random = rng(Number(process.env.CRASH_SEED ?? 6));
      await start();
      // A baseline that must survive everything.
      const baseLayers = [randomBytes(3 * MIB), randomBytes(1000)];
      const baseDigest = await pushImage('demo/docker/base', 'v1', baseLayers);

      // 1. Mid-PATCH: a chunk streaming in slowly.
      for (let round = 0; round < 1; round++) {
        const name = `demo/docker/patch${round}`;
        const post = await req(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
        assert.equal(post.status, 202);
        const location = new URL(post.headers.get('location')!, server!.url).pathname;
        const bytes = randomBytes(stack.timing.cutBodyBytes);
        const inflight = doomed(req(location, { method: 'PATCH', body: trickle(bytes, 5) }));
        await stagedAtLeast((round + 1) * MIB);
        await kill();
        await inflight;
        cutSessions.push({ name, location, bytes });
        await start();
      }

      // 2. Mid-monolithic upload.
      for (let round = 0; round < 1; round++) {
        const name = `demo/docker/mono${round}`;
        const bytes = randomBytes(stack.timing.cutBodyBytes);
        const inflight = doomed(req(`/v2/${name}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: trickle(bytes, 5) }));
        await stagedAtLeast(MIB);
        await kill();
        await inflight;
        cutBlobs.push({ name, bytes });
        await start();
      }

      // 3. Mid-commit: the whole blob staged, then the PUT; killed a few ms after it is sent.
      for (let round = 0; round < 3; round++) {
        const name = `demo/docker/commit${round}`;
        const bytes = randomBytes(24 * MIB);
        const post = await req(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
        const location = new URL(post.headers.get('location')!, server!.url).pathname;
        const patch = await req(location, { method: 'PATCH', body: bytes });
        assert.equal(patch.status, 202, await patch.text());
        const inflight = doomed(req(`${location}?digest=${sha256(bytes)}`, { method: 'PUT' }));
        await sleep(Math.floor(random() * stack.timing.commitMs));
        await kill();
        const outcome = await inflight;
        assert.ok(outcome === 'cut' || outcome === 201, `commit answered ${outcome}`);
        cutSessions.push({ name, location, bytes });
        cutBlobs.push({ name, bytes });
        await start();
      }

      // 4. Mid-manifest PUT: several tags and digests at once.
      for (let round = 0; round < 2; round++) {
        const name = `demo/docker/manifest${round}`;
        const layer = randomBytes(4096);
        await pushImage(name, 'seed', [layer]);
        const puts: Promise<number | 'cut'>[] = [];
        for (let i = 0; i < 12; i++) {
          const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', i, round }));
          await pushBlob(name, config);
          const m = manifestOf(config, [layer]);
          puts.push(doomed(req(`/v2/${name}/manifests/t${i}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m })));
          puts.push(doomed(req(`/v2/${name}/manifests/${i % 3 === 0 ? 'moving' : sha256(m)}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: m })));
        }
        await sleep(Math.floor(random() * 15));
        await kill();
        for (const outcome of await Promise.all(puts)) assert.ok(outcome === 'cut' || outcome === 201, `manifest PUT answered ${outcome}`);
        await start();
      }

      // 5. During GC: garbage from deleted images, then a restart with GC due at once; killed as
      //    soon as the first blob file disappears (GC deletes bytes before rows).
      for (let round = 0; round < 1; round++) {
        for (let i = 0; i < 15; i++) {
          const name = `demo/docker/garbage${round}`;
          const digest = await pushImage(name, `g${i}`, [randomBytes(2048), randomBytes(512)]);
          assert.equal((await req(`/v2/${name}/manifests/${digest}`, { method: 'DELETE' })).status, 202);
        }
        await server!.stop();
        server = undefined;
        const countBlobs = () => stack!.countBlobs();
        const before = await countBlobs();
        await start({ BERTH_GC_INTERVAL: '1', BERTH_GC_GRACE: '0' });
        let killed = false;
        for (let i = 0; i < 4000 && !killed; i++) {
          if ((await countBlobs()) < before) {
            await kill();
            killed = true;
          } else await sleep(2);
        }
        assert.ok(killed, 'GC started deleting');
        await start();
      }

      // 6. A mixed load, killed at random moments.
      for (let round = 0; round < 3; round++) {
        const work: Promise<unknown>[] = [];
        for (let w = 0; w < 4; w++) {
          const name = `demo/docker/mixed${w}`;
          work.push(
            (async () => {
              for (let i = 0; ; i++) {
                const kind = Math.floor(random() * 3);
                if (kind === 0) await pushImage(name, `r${round}-${i}`, [randomBytes(Math.floor(random() * 2 * MIB))]);
                else if (kind === 1) {
                  const bytes = randomBytes(MIB);
                  const post = await req(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
                  const location = new URL(post.headers.get('location')!, server!.url).pathname;
                  await (await req(location, { method: 'PATCH', body: bytes.subarray(0, MIB / 2) })).arrayBuffer();
                  await (await req(`${location}?digest=${sha256(bytes)}`, { method: 'PUT', body: bytes.subarray(MIB / 2) })).arrayBuffer();
                } else {
                  const tags = (await (await req(`/v2/${name}/tags/list`)).json().catch(() => ({}))) as { tags?: string[] };
                  const tag = tags.tags?.[0];
                  if (tag) await (await req(`/v2/${name}/manifests/${tag}`, { method: 'DELETE' })).arrayBuffer();
                }
              }
            })().catch(() => undefined),
          );
        }
        await sleep(100 + Math.floor(random() * 400));
        await kill();
        await Promise.all(work);
        await start();
      }

      // After the last restart: cut sessions resume (or are cleanly unknown), cut blobs are absent or whole.
      for (const { name, location, bytes } of cutSessions) {
        const status = await req(location);
        if (status.status === 404) {
          assert.equal(((await status.json()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
          continue;
        }
        assert.equal(status.status, 204, `session ${location}: ${status.status}`);
        const offset = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1] ?? -1) + 1;
        assert.ok(offset >= 0 && offset <= bytes.length, `offset ${offset}`);
        if (offset > 0) {
          // What was staged before the kill is a prefix of what was sent.
          const hex = createHash('sha256').update(bytes.subarray(0, offset)).digest('hex');
          const staged = await stack.readStaged(location.split('/').pop()!);
          if (staged) assert.equal(createHash('sha256').update(staged).digest('hex'), hex, 'staged bytes are a prefix of the sent ones');
        }
        const rest = bytes.subarray(offset);
        const put = await req(`${location}?digest=${sha256(bytes)}`, rest.length > 0 ? { method: 'PUT', headers: { 'content-range': `${offset}-${bytes.length - 1}` }, body: rest } : { method: 'PUT' });
        assert.ok(put.status === 201 || put.status === 404, `resumed PUT of ${location}: ${put.status} ${await put.text()}`);
        if (put.status === 201) cutBlobs.push({ name, bytes });
      }
      for (const { name, bytes } of cutBlobs) {
        const res = await req(`/v2/${name}/blobs/${sha256(bytes)}`);
        if (res.status === 404) {
          await res.arrayBuffer();
          continue;
        }
        assert.equal(res.status, 200);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(bytes), `blob of ${name} is whole`);
      }

      // Every blob a repository links: GET it and re-hash. Every tag: its manifest exists and pulls.
      const linked = await stack.linkedBlobs();
      const tags = await stack.tags();
      assert.ok(linked.length > 20, `blobs to check: ${linked.length}`);
      for (const { name, digest, size } of linked) {
        const res = await req(`/v2/${name}/blobs/${digest}`);
        assert.equal(res.status, 200, `linked blob ${name}@${digest}: ${res.status}`);
        const body = Buffer.from(await res.arrayBuffer());
        assert.equal(body.length, Number(size), `size of ${digest}`);
        assert.equal(sha256(body), digest, `bytes of ${digest}`);
      }
      for (const t of tags) {
        assert.equal(t.found, 1, `tag ${t.name}:${t.tag} points at a missing manifest ${t.digest}`);
        const res = await req(`/v2/${t.name}/manifests/${t.tag}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(res.status, 200, `pull ${t.name}:${t.tag}`);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), t.digest);
      }
      const base = await req(`/v2/demo/docker/base/manifests/v1`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(base.headers.get('docker-content-digest'), baseDigest, 'the baseline image survived');
      await base.arrayBuffer();

      // The start-up sweep and GC clear the leftovers; then fsck finds nothing to report.
      await server!.stop();
      server = undefined;
      const s = await start({ BERTH_GC_INTERVAL: '1', BERTH_GC_GRACE: '0' });
      await s.process.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('gc: '), 60_000, 'a GC run');
      await s.stop();
      server = undefined;
      const fsck = await berthCli(['fsck', '-d', stack.dataDir], stack.env);
      assert.equal(fsck.code, 0, `fsck:\n${fsck.stdout}\n${fsck.stderr}`);
      assert.match(fsck.stdout, /no problems found/, fsck.stdout);
      // Staged uploads left are exactly those with a session row (resumable until they expire).
      const rows = await stack.uploadSessionIds();
      for (const id of await stack.stagedIds()) assert.ok(rows.has(id), `staged upload ${id} has a session`);
    });
  });
}

crashSuite('crash safety under SIGKILL: embedded (SQLite + local disk)', openEmbeddedStack, 300_000);

const services = scaleOutTestEnv();
if (services) {
  crashSuite('crash safety under SIGKILL: scale-out (PostgreSQL + S3)', () => openScaleOutStack(services), 600_000);
} else {
  describe('crash safety under SIGKILL: scale-out (PostgreSQL + S3)', () => {
    it('skipped: needs BERTH_TEST_DATABASE_URL and BERTH_TEST_S3_ENDPOINT (npm run test:all starts both)', { skip: 'PostgreSQL or S3 test server not configured' }, () => {});
  });
}
