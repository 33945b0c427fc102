/**
 * The workloads of issue 5, each run the same way against any registry. A scenario's `setup`
 * is not measured; its `run` is, together with the server's peak RSS and CPU seconds.
 */
import {
  BlobSource,
  expectStatus,
  listAllPages,
  MiB,
  OCI_MANIFEST,
  parallel,
  pullBlob,
  pushChunked,
  pushMonolithic,
  pushSmallImage,
  putManifest,
  request,
  sha256,
  smallImage,
} from './client.ts';
import { load, type LoadResult } from './load.ts';
import type { Registry } from './servers.ts';

export interface Sizes {
  largeBytes: number;
  chunkBytes: number;
  smallImages: number;
  smallConcurrency: number;
  loadSeconds: number;
  loadConnections: number;
  tags: number;
  tagConcurrency: number;
  concurrentPulls: number;
  concurrentBytes: number;
}

export const FULL: Sizes = {
  largeBytes: 1024 * MiB,
  chunkBytes: 16 * MiB,
  smallImages: 2000,
  smallConcurrency: 16,
  loadSeconds: 10,
  loadConnections: 64,
  tags: 10_000,
  tagConcurrency: 16,
  concurrentPulls: 32,
  concurrentBytes: 64 * MiB,
};

export const QUICK: Sizes = {
  largeBytes: 256 * MiB,
  chunkBytes: 16 * MiB,
  smallImages: 300,
  smallConcurrency: 16,
  loadSeconds: 3,
  loadConnections: 64,
  tags: 1500,
  tagConcurrency: 16,
  concurrentPulls: 32,
  concurrentBytes: 64 * MiB,
};

export interface Metric {
  metric: string;
  value: number;
  unit: string;
  /** True when larger is better (throughput); false for latencies and times. */
  higherIsBetter: boolean;
}

/** What a registry accumulates across scenarios of one run. */
export interface RunState {
  largeDigest?: string;
}

export interface Scenario {
  id: string;
  title: string;
  /** Only meaningful against Berth (the extension API). */
  berthOnly?: boolean;
  /**
   * Its timing depends on allocating many inodes, so it must not start within 30 s of another
   * registry deleting many files (see DELETE_SETTLE_SECONDS in run.ts): the reference removes
   * about 12 files and directories per small image it takes (strace: 24,000 unlinkat in its d).
   */
  createsManyFiles?: boolean;
  setup?(r: Registry, sizes: Sizes, state: RunState): Promise<unknown>;
  run(r: Registry, sizes: Sizes, state: RunState, prepared: unknown): Promise<Metric[]>;
}

const MB = 1e6;
/** Seconds since `t0` (a performance.now() reading). */
export const seconds = (t0: number): number => (performance.now() - t0) / 1000;
/** MB (10^6 bytes) per second. */
export const mbps = (bytes: number, secs: number): number => bytes / MB / secs;

const LARGE_NAME = 'bench/large/blob';

async function ensureLarge(r: Registry, sizes: Sizes, state: RunState): Promise<string> {
  if (state.largeDigest) return state.largeDigest;
  const source = new BlobSource(sizes.largeBytes, 1);
  const digest = await source.digest();
  await pushMonolithic(r, LARGE_NAME, digest, source.size, source.stream());
  state.largeDigest = digest;
  return digest;
}

const tagsOf = (body: Buffer): number => (JSON.parse(body.toString('utf8')) as { tags: string[] | null }).tags?.length ?? 0;

/** Scenario e's repository: one small image under ten tags. */
export interface HotImage {
  name: string;
  layer: string;
}

export async function pushHotImage(r: Registry): Promise<HotImage> {
  const image = smallImage(-1);
  const name = 'bench/hot/app';
  await pushSmallImage(r, name, image, 'latest');
  for (let i = 1; i < 10; i++) await putManifest(r, name, `v${i}`, image.manifest);
  return { name, layer: sha256(image.layer) };
}

export interface SmallRequest {
  label: string;
  method: 'GET' | 'HEAD';
  path: string;
  headers: Record<string, string>;
}

/** Scenario e's three requests against `hot`. */
export function smallRequests(hot: HotImage): SmallRequest[] {
  return [
    { label: 'HEAD blob', method: 'HEAD', path: `/v2/${hot.name}/blobs/${hot.layer}`, headers: {} },
    { label: 'GET manifest', method: 'GET', path: `/v2/${hot.name}/manifests/latest`, headers: { accept: OCI_MANIFEST } },
    { label: 'GET tags', method: 'GET', path: `/v2/${hot.name}/tags/list`, headers: {} },
  ];
}

/** `request` at `connections` for `seconds`; wrk waits for a body after a HEAD answer's Content-Length, so HEAD goes through the Node generator. */
export function loadSmallRequest(r: Registry, request: SmallRequest, connections: number, seconds: number): Promise<LoadResult> {
  return load(r, request.method, request.path, { connections, seconds, headers: request.headers, ...(request.method === 'HEAD' ? { tool: 'node' as const } : {}) });
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'a',
    title: 'push one large blob (POST + one PUT)',
    async setup(_r, sizes) {
      const source = new BlobSource(sizes.largeBytes, 1);
      await source.digest();
      return source;
    },
    async run(r, _sizes, state, prepared) {
      const source = prepared as BlobSource;
      const digest = await source.digest();
      const t0 = performance.now();
      await pushMonolithic(r, LARGE_NAME, digest, source.size, source.stream());
      const secs = seconds(t0);
      state.largeDigest = digest;
      return [{ metric: 'push-large MB/s', value: mbps(source.size, secs), unit: 'MB/s', higherIsBetter: true }];
    },
  },
  {
    id: 'b',
    title: 'push the same size in 16 MiB PATCH chunks',
    async setup(_r, sizes) {
      const source = new BlobSource(sizes.largeBytes, 2);
      await source.digest();
      return source;
    },
    async run(r, sizes, _state, prepared) {
      const source = prepared as BlobSource;
      const t0 = performance.now();
      await pushChunked(r, 'bench/chunked/blob', source, sizes.chunkBytes);
      return [{ metric: 'push-chunked MB/s', value: mbps(source.size, seconds(t0)), unit: 'MB/s', higherIsBetter: true }];
    },
  },
  {
    id: 'c',
    title: 'pull the large blob, client hashing and not',
    setup: ensureLarge,
    async run(r, sizes, _state, prepared) {
      const digest = prepared as string;
      // At least 2 GiB per variant so one figure is not a fraction of a second.
      const reps = Math.max(1, Math.ceil((2048 * MiB) / sizes.largeBytes));
      const out: Metric[] = [];
      for (const verify of [false, true]) {
        let bytes = 0;
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) bytes += await pullBlob(r, LARGE_NAME, digest, verify);
        out.push({ metric: `pull-large ${verify ? 'sha256' : 'no hash'} MB/s`, value: mbps(bytes, seconds(t0)), unit: 'MB/s', higherIsBetter: true });
      }
      return out;
    },
  },
  {
    id: 'd',
    title: 'push many small images (4 KiB layer + config + manifest), 16 at a time',
    createsManyFiles: true,
    async setup(_r, sizes) {
      return Array.from({ length: sizes.smallImages }, (_, i) => smallImage(i));
    },
    async run(r, sizes, _state, prepared) {
      const images = prepared as ReturnType<typeof smallImage>[];
      const t0 = performance.now();
      await parallel(images.length, sizes.smallConcurrency, (i) => pushSmallImage(r, 'bench/small/app', images[i]!, `v${i}`));
      return [{ metric: 'push-small images/s', value: images.length / seconds(t0), unit: 'images/s', higherIsBetter: true }];
    },
  },
  {
    id: 'e',
    title: 'small requests at 64 connections: HEAD blob, GET manifest by tag, GET tags list',
    setup: pushHotImage,
    async run(r, sizes, _state, prepared) {
      const out: Metric[] = [];
      for (const request of smallRequests(prepared as HotImage)) {
        const res = await loadSmallRequest(r, request, sizes.loadConnections, sizes.loadSeconds);
        const label = request.label;
        if (res.errors > 0) console.error(`  ${r.kind} ${label}: ${res.errors} errors of ${res.requests}`);
        out.push(
          { metric: `${label} req/s`, value: res.rps, unit: 'req/s', higherIsBetter: true },
          { metric: `${label} p50 ms`, value: res.p50ms, unit: 'ms', higherIsBetter: false },
          { metric: `${label} p99 ms`, value: res.p99ms, unit: 'ms', higherIsBetter: false },
        );
      }
      return out;
    },
  },
  {
    id: 'f',
    title: 'tag one manifest many times, then list all tags with n=1000',
    async setup(r) {
      const image = smallImage(-2);
      await pushSmallImage(r, 'bench/tags/app', image, 'base');
      return image;
    },
    async run(r, sizes, _state, prepared) {
      const image = prepared as ReturnType<typeof smallImage>;
      const t0 = performance.now();
      await parallel(sizes.tags, sizes.tagConcurrency, (i) => putManifest(r, 'bench/tags/app', `t${String(i).padStart(5, '0')}`, image.manifest));
      const tagRate = sizes.tags / seconds(t0);
      // Listing is short: take the best of three so one scheduler hiccup does not decide it.
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t1 = performance.now();
        const listed = await listAllPages(r, '/v2/bench/tags/app/tags/list?n=1000', tagsOf);
        best = Math.min(best, performance.now() - t1);
        if (listed.items !== sizes.tags + 1) throw new Error(`${r.kind} listed ${listed.items} tags, expected ${sizes.tags + 1}`);
      }
      return [
        { metric: 'tag PUT tags/s', value: tagRate, unit: 'tags/s', higherIsBetter: true },
        { metric: 'list all tags n=1000 ms', value: best, unit: 'ms', higherIsBetter: false },
      ];
    },
  },
  {
    id: 'g',
    title: 'concurrent pulls of one blob',
    async setup(r, sizes) {
      const source = new BlobSource(sizes.concurrentBytes, 3);
      const digest = await source.digest();
      await pushMonolithic(r, 'bench/concurrent/blob', digest, source.size, source.stream());
      return digest;
    },
    async run(r, sizes, _state, prepared) {
      const digest = prepared as string;
      let bytes = 0;
      const t0 = performance.now();
      await parallel(sizes.concurrentPulls, sizes.concurrentPulls, async () => {
        const received = await pullBlob(r, 'bench/concurrent/blob', digest, false);
        bytes += received;
      });
      return [{ metric: `${sizes.concurrentPulls} concurrent pulls MB/s`, value: mbps(bytes, seconds(t0)), unit: 'MB/s', higherIsBetter: true }];
    },
  },
  {
    id: 'x',
    title: 'extension API on the repo with many tags: tag list (pageSize=1000, all pages) and image list',
    berthOnly: true,
    async run(r, sizes) {
      const envelope = (body: Buffer): unknown[] => (JSON.parse(body.toString('utf8')) as { data: unknown[] }).data;
      let bestTags = Infinity;
      let bestImages = Infinity;
      for (let rep = 0; rep < 3; rep++) {
        const t0 = performance.now();
        let seen = 0;
        for (let page = 1; ; page++) {
          const res = expectStatus(await request(r, `/docker/api/tag/bench/tags/app?pageSize=1000&pageNumber=${page}`, { method: 'GET' }), 200, 'ext tag list');
          const items = envelope(res.body).length;
          seen += items;
          if (items < 1000) break;
        }
        bestTags = Math.min(bestTags, performance.now() - t0);
        if (seen !== sizes.tags + 1) throw new Error(`ext tag list gave ${seen} tags, expected ${sizes.tags + 1}`);
        const t1 = performance.now();
        expectStatus(await request(r, '/docker/api/repo/bench/tags?pageSize=1000', { method: 'GET' }), 200, 'ext image list');
        bestImages = Math.min(bestImages, performance.now() - t1);
      }
      return [
        { metric: 'ext tag list all pages ms', value: bestTags, unit: 'ms', higherIsBetter: false },
        { metric: 'ext image list ms', value: bestImages, unit: 'ms', higherIsBetter: false },
      ];
    },
  },
];
