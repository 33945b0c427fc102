/**
 * `npm run bench:workloads [-- options]`: the everyday traffic issue 5's scenarios leave out,
 * against Berth and the reference registry one after the other (fresh servers each).
 *
 *   --images N    small images pushed first, across 60 repositories (default 600)
 *   --rounds N    times the whole list below runs on the same server (default 2: the first
 *                 round includes Berth's JIT warm-up)
 *   --only KIND   berth or reference (default both)
 *
 * Each workload runs its N operations 16 at a time and prints one JSON line per registry, round
 * and workload: operations per second and the server's CPU milliseconds per operation.
 * - pull: GET manifest by tag (docker's Accept list), GET config, GET layer (a docker pull).
 * - pull by digest: HEAD manifest by tag, GET it by digest, config, layer (containerd).
 * - re-push: HEAD layer, HEAD config, PUT manifest (a push where the registry has the blobs).
 * - mount: POST ?mount=&from= of a layer into a new repository.
 * - catalog: all of /v2/_catalog in pages of 10, 20 times over (operations: pages).
 * - tags: GET tags/list of each image's repository.
 * - unknown tag: GET manifest of a tag that does not exist (404).
 * - delete: DELETE manifest by digest, for half the images (pushed again afterwards).
 *
 * Loopback only; the servers are stopped by their PIDs, also on errors.
 */
import { parseArgs } from 'node:util';
import { expectStatus, listAllPages, OCI_MANIFEST, parallel, pushSmallImage, request, sha256, smallImage } from './client.ts';
import { seconds } from './scenarios.ts';
import { cpuSeconds, type Registry, startBerth, startReference } from './servers.ts';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '600' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string' },
  },
});
const IMAGES = Number(args.images);
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(IMAGES) || IMAGES < 2 || !Number.isInteger(ROUNDS) || ROUNDS < 1 || (args.only && !['berth', 'reference'].includes(args.only))) {
  console.error('usage: npm run bench:workloads -- [--images N (>= 2)] [--rounds N] [--only berth|reference]');
  process.exit(2);
}
const REPOS = 60;
const CONCURRENCY = 16;
const ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

interface ImageManifest {
  config: { digest: string };
  layers: { digest: string }[];
}

/** Runs `work` (which returns its operation count) and prints its rate and the server's CPU per operation. */
async function measure(r: Registry, round: number, workload: string, work: () => Promise<number>): Promise<void> {
  const cpu0 = cpuSeconds(r.pid);
  const t0 = performance.now();
  const ops = await work();
  const elapsed = seconds(t0);
  const cpuMs = ((cpuSeconds(r.pid) - cpu0) * 1000) / ops;
  console.log(JSON.stringify({ registry: r.kind, round, workload, operations: ops, perSecond: Math.round(ops / elapsed), serverCpuMsPerOperation: +cpuMs.toFixed(3) }));
}

async function pullImage(r: Registry, name: string, reference: string): Promise<void> {
  const res = expectStatus(await request(r, `/v2/${name}/manifests/${reference}`, { method: 'GET', headers: { accept: ACCEPT } }), 200, 'GET manifest');
  const manifest = JSON.parse(res.body.toString('utf8')) as ImageManifest;
  for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    expectStatus(await request(r, `/v2/${name}/blobs/${digest}`, { method: 'GET' }), 200, 'GET blob');
  }
}

async function run(r: Registry): Promise<void> {
  const images = Array.from({ length: IMAGES }, (_, i) => smallImage(i));
  const name = (i: number): string => `bench/work${i % REPOS}/app`;
  const pushAll = (): Promise<void> => parallel(IMAGES, CONCURRENCY, (i) => pushSmallImage(r, name(i), images[i]!, `t${i}`));
  const each = (task: (i: number) => Promise<void>) => async (): Promise<number> => {
    await parallel(IMAGES, CONCURRENCY, task);
    return IMAGES;
  };
  await pushAll();
  for (let round = 1; round <= ROUNDS; round++) {
    await measure(r, round, 'pull', each((i) => pullImage(r, name(i), `t${i}`)));
    await measure(
      r,
      round,
      'pull by digest',
      each(async (i) => {
        const head = expectStatus(await request(r, `/v2/${name(i)}/manifests/t${i}`, { method: 'HEAD', headers: { accept: ACCEPT } }), 200, 'HEAD manifest');
        await pullImage(r, name(i), String(head.headers['docker-content-digest']));
      }),
    );
    await measure(
      r,
      round,
      're-push',
      each(async (i) => {
        const image = images[i]!;
        expectStatus(await request(r, `/v2/${name(i)}/blobs/${sha256(image.layer)}`, { method: 'HEAD' }), 200, 'HEAD layer');
        expectStatus(await request(r, `/v2/${name(i)}/blobs/${sha256(image.config)}`, { method: 'HEAD' }), 200, 'HEAD config');
        const put = await request(r, `/v2/${name(i)}/manifests/t${i}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: image.manifest });
        expectStatus(put, 201, 'PUT manifest');
      }),
    );
    await measure(
      r,
      round,
      'mount',
      each(async (i) => {
        const path = `/v2/bench/mount${round}x${i % REPOS}/app/blobs/uploads/?mount=${sha256(images[i]!.layer)}&from=${name(i)}`;
        expectStatus(await request(r, path, { method: 'POST' }), 201, 'mount');
      }),
    );
    await measure(r, round, 'catalog', async () => {
      let pages = 0;
      const repositories = (body: Buffer): number => (JSON.parse(body.toString('utf8')) as { repositories: string[] }).repositories.length;
      for (let k = 0; k < 20; k++) pages += (await listAllPages(r, '/v2/_catalog?n=10', repositories)).pages;
      return pages;
    });
    await measure(
      r,
      round,
      'tags',
      each(async (i) => void expectStatus(await request(r, `/v2/${name(i)}/tags/list`, { method: 'GET' }), 200, 'tags')),
    );
    await measure(
      r,
      round,
      'unknown tag',
      each(async (i) => void expectStatus(await request(r, `/v2/${name(i)}/manifests/none${i}`, { method: 'GET', headers: { accept: ACCEPT } }), 404, 'unknown tag')),
    );
    await measure(r, round, 'delete', async () => {
      const half = Math.floor(IMAGES / 2);
      await parallel(half, CONCURRENCY, async (j) => {
        const i = 2 * j;
        expectStatus(await request(r, `/v2/${name(i)}/manifests/${images[i]!.digest}`, { method: 'DELETE' }), 202, 'DELETE manifest');
      });
      return half;
    });
    await pushAll();
  }
}

for (const kind of ['reference', 'berth'] as const) {
  if (args.only && args.only !== kind) continue;
  const r = kind === 'berth' ? await startBerth({ mode: 'bundle', nodeFlags: [], logLevel: 'info' }) : await startReference(false);
  try {
    await run(r);
  } finally {
    await r.stop();
  }
}
