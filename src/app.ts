import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { bootstrapAdmin } from './auth/admin-bootstrap.ts';
import { createAuth } from './auth/auth-services.ts';
import type { Config } from './config/config.ts';
import { createHttpServer } from './http/server.ts';
import { BerthMetrics } from './http/metrics.ts';
import { openSqliteMetadata } from './metadata/kysely/sqlite.ts';
import type { MetadataStore } from './metadata/metadata-store.ts';
import { DownloadCounter } from './events/download-counter.ts';
import { Blobs } from './registry/blobs.ts';
import { ImageBrowser } from './registry/image-browser.ts';
import { ProjectAdmin } from './registry/project-admin.ts';
import type { RegistryDeps } from './registry/deps.ts';
import { Listings } from './registry/listings.ts';
import { Manifests } from './registry/manifests.ts';
import { ConfigCache } from './registry/config-cache.ts';
import { Repositories } from './registry/repositories.ts';
import { Uploads } from './registry/uploads.ts';
import { GarbageCollector, type GcPolicy } from './registry/gc/garbage-collector.ts';
import { GcScheduler } from './registry/gc/gc-scheduler.ts';
import type { BlobStore } from './storage/blob-store.ts';
import { FsBlobStore } from './storage/fs/fs-blob-store.ts';
import type { S3BlobStore } from './storage/s3/s3-blob-store.ts';

export interface BerthApp {
  readonly http: FastifyInstance;
  readonly deps: RegistryDeps;
  readonly config: Config;
  /** Garbage collection with the configured policy (the server also runs it on a schedule). */
  readonly gc: GarbageCollector;
  /** Set on first start when the admin password was generated. */
  readonly generatedAdminPassword?: string;
  /** Stops accepting requests, lets in-flight ones finish, closes storage and database. */
  close(): Promise<void>;
}

export const DATABASE_FILE = 'berth.db';

/** Opens the drivers the configuration selects. The only place that names concrete drivers. */
export async function openDrivers(config: Config, logger?: Logger): Promise<{ metadata: MetadataStore; blobs: BlobStore }> {
  await prepareDataDir(config.dataDir);
  const uploadLost = (upload: string, err: Error) => logger?.error({ err, upload }, 'writing an upload back to disk failed: the upload is removed and its client must start it again');
  const blobs = config.storage === 's3' ? await openS3(config) : new FsBlobStore(config.dataDir, { uploadLost });
  if (blobs instanceof FsBlobStore) await blobs.init();
  // The scale-out drivers are loaded only when selected: the AWS SDK and pg cost memory and start-up time.
  const metadata = config.databaseUrl
    ? await (await import('./metadata/kysely/postgres.ts')).openPostgresMetadata(config.databaseUrl, { poolSize: config.databasePoolSize })
    : await openSqliteMetadata(join(config.dataDir, DATABASE_FILE)).catch((err: Error) => {
        throw new Error(`cannot open the database ${join(config.dataDir, DATABASE_FILE)}: ${err.message}`, { cause: err });
      });
  return { metadata, blobs };
}

/**
 * Creates the data dir (and missing parents) one level at a time and checks it takes writes, so a
 * bad one is one clear start-up error naming it. Not `mkdir -p`: Node's recursive mkdir loops
 * forever where mkdir answers ENOENT under an existing parent (in /proc, for example).
 */
async function prepareDataDir(dir: string): Promise<void> {
  try {
    const missing: string[] = [];
    for (let current = resolve(dir); ; ) {
      const found = await stat(current).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (found) {
        if (!found.isDirectory()) throw new Error(`${current} is not a directory`);
        break;
      }
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
    }
    for (const path of missing.reverse()) {
      await mkdir(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    await probeWritable(dir);
  } catch (err) {
    throw new Error(`data dir ${dir} is not usable: ${(err as Error).message}`, { cause: err });
  }
}

let probes = 0;
/** Creates, syncs and removes a small file in `dir`; rejects when the directory cannot take writes. */
async function probeWritable(dir: string): Promise<void> {
  const path = join(dir, `.ready-probe-${process.pid}-${probes++}`);
  const handle = await open(path, 'w');
  try {
    await handle.writeFile('ok');
    await handle.datasync();
  } finally {
    await handle.close();
    await rm(path, { force: true });
  }
}

/** GC settings from the configuration. */
export function gcPolicyOf(config: Config): GcPolicy {
  return { graceMs: config.gcGraceSeconds * 1000, uploadTtlMs: config.uploadTtlSeconds * 1000, untagged: config.gcUntagged };
}

async function openS3(config: Config): Promise<S3BlobStore> {
  const { S3BlobStore } = await import('./storage/s3/s3-blob-store.ts');
  const blobs = new S3BlobStore({
    ...(config.s3Endpoint ? { endpoint: config.s3Endpoint } : {}),
    bucket: config.s3Bucket!,
    region: config.s3Region,
    ...(config.s3AccessKeyId ? { accessKeyId: config.s3AccessKeyId } : {}),
    ...(config.s3SecretAccessKey ? { secretAccessKey: config.s3SecretAccessKey } : {}),
    forcePathStyle: config.s3ForcePathStyle ?? config.s3Endpoint !== undefined,
    ...(config.s3Prefix ? { prefix: config.s3Prefix } : {}),
    chunkBytes: config.s3ChunkMiB * 1024 * 1024,
    ...(config.s3RedirectSeconds > 0 ? { redirectSeconds: config.s3RedirectSeconds } : {}),
  });
  await blobs.init({ create: true });
  return blobs;
}

/** The composition root: config in, a ready (not yet listening) application out. */
export async function buildApp(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<BerthApp> {
  const { metadata, blobs } = await openDrivers(config, logger);
  const deps: RegistryDeps = { metadata, blobs, now: Date.now };
  const admin = await bootstrapAdmin(metadata.users, config.dataDir, config.adminPassword, deps.now());

  const auth = await createAuth(metadata.auth, metadata.namespaces, config, logger, deps.now);

  const repositories = new Repositories(deps);
  const blobReads = new Blobs(deps, repositories);
  const configs = new ConfigCache();
  const manifests = new Manifests(deps, repositories, configs);
  const downloads = new DownloadCounter(metadata.images, logger);
  const metrics = new BerthMetrics(metadata.stats);
  const http = await createHttpServer(
    {
      blobs: blobReads,
      uploads: new Uploads(deps, repositories, configs),
      manifests,
      listings: new Listings(deps, repositories),
      images: new ImageBrowser(deps, repositories, manifests, blobReads, downloads),
      downloads,
      projectAdmin: new ProjectAdmin(deps),
      ...auth,
      ready: async () => {
        await metadata.ping();
        await blobs.stat('sha256:0000000000000000000000000000000000000000000000000000000000000000' as never);
        // Reading is not enough: a full disk or a read-only or vanished data dir fails every push.
        if (config.storage === 'fs') await probeWritable(config.dataDir);
      },
      metrics,
      options: { baseUrl: config.baseUrl, headersTimeoutMs: config.headersTimeoutSeconds * 1000, idleTimeoutMs: config.idleTimeoutSeconds * 1000 },
    },
    logger,
  );

  const gc = new GarbageCollector(deps, gcPolicyOf(config));
  const gcScheduler = new GcScheduler(gc, config.gcIntervalSeconds * 1000, logger, undefined, (summary) => metrics.gcRun(summary));
  gcScheduler.start();

  let closing: Promise<void> | undefined;
  return {
    http,
    deps,
    config,
    gc,
    ...(admin.generatedPassword ? { generatedAdminPassword: admin.generatedPassword } : {}),
    close() {
      closing ??= (async () => {
        // Node's server.close() drops the connections that are idle when it is called, but a
        // keep-alive connection whose in-flight request finishes afterwards stays open until the
        // client or keepAliveTimeout (75 s) ends it, and close() waits for it. Sweep such
        // connections while in-flight requests drain, so shutdown ends when the last one is done
        // (never one whose answer is still flushing: see idle-sweep.ts).
        const sweep = setInterval(() => http.server.closeIdleConnections(), 100);
        sweep.unref();
        try {
          await http.close();
        } finally {
          clearInterval(sweep);
        }
        await gcScheduler.stop();
        await downloads.close();
        await blobs.close?.();
        await metadata.close();
      })();
      return closing;
    },
  };
}
