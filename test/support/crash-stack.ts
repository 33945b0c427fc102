/**
 * The stack-specific half of the crash suite (test/e2e/crash.test.ts): where a Berth process keeps
 * its metadata and bytes, and how the test looks at them behind the server's back. The scenarios
 * and checks are the same for every stack; only these few questions differ.
 *
 * - embedded: SQLite file + blob and staged-upload files in the data dir (read with better-sqlite3
 *   and node:fs).
 * - scale-out: PostgreSQL (a fresh schema per run, read with `pg`) + an S3-compatible bucket (a
 *   fresh key prefix per run, read with the S3 SDK), configured from the same BERTH_TEST_* variables
 *   the other scale-out suites use.
 */
import { AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { freshSchema, withSchema } from './postgres.ts';

export interface LinkedBlobRow {
  /** `project/repo/image` */
  name: string;
  digest: string;
  size: number;
}

export interface TagRow {
  name: string;
  tag: string;
  digest: string;
  /** Manifest rows of that image with that digest (1 when the tag resolves). */
  found: number;
}

export interface CrashStack {
  /** The data dir every (re)start uses (also given to `berth fsck -d`). */
  readonly dataDir: string;
  /** BERTH_* settings for `berth serve` and the CLI beyond the data dir (empty for the defaults). */
  readonly env: Readonly<Record<string, string>>;
  /** How long a start may take (scale-out nodes run migrations and open an S3 client). */
  readonly startTimeoutMs: number;
  /** What the scenarios scale by so that each kill lands inside the operation it targets here. */
  readonly timing: {
    /**
     * Size of the trickled bodies cut mid-PATCH and mid-monolithic upload: large enough that the
     * kill comes while the body is still arriving, after the first staged bytes become visible
     * (on disk as they arrive; in S3 only once a whole chunk is written).
     */
    cutBodyBytes: number;
    /** The kill during a 24 MiB commit comes a random 0..commitMs after the PUT: about its duration. */
    commitMs: number;
  };
  /** Staged bytes per upload id, as the server stored them so far (what a restart resumes from). */
  stagedSizes(): Promise<Map<string, number>>;
  /** The staged bytes of one upload, in order; undefined when nothing is staged under that id. */
  readStaged(id: string): Promise<Buffer | undefined>;
  /** Ids with anything staged (a marker, a file, a chunk). */
  stagedIds(): Promise<string[]>;
  /** Number of stored blobs (bytes, not rows). */
  countBlobs(): Promise<number>;
  /** Every (image, blob) link with the blob's recorded size. */
  linkedBlobs(): Promise<LinkedBlobRow[]>;
  /** Every tag with whether its manifest row exists. */
  tags(): Promise<TagRow[]>;
  /** Ids of the upload session rows. */
  uploadSessionIds(): Promise<Set<string>>;
  /** Removes everything this stack created (data dir, schema, objects). Idempotent. */
  dispose(): Promise<void>;
}

const MIB = 1024 * 1024;

// The same schema on both databases (src/metadata/kysely/migrations), so the same queries.
const LINKED_SQL = `SELECT i.project || '/' || i.repo || '/' || i.image AS name, b.digest, b.size FROM image_blobs l JOIN images i ON i.id = l.image_id JOIN blobs b ON b.digest = l.digest`;
const TAGS_SQL = `SELECT i.project || '/' || i.repo || '/' || i.image AS name, t.name AS tag, t.digest, (SELECT COUNT(*) FROM manifests m WHERE m.image_id = t.image_id AND m.digest = t.digest) AS found FROM tags t JOIN images i ON i.id = t.image_id`;
const UPLOADS_SQL = 'SELECT id FROM uploads';

/** PostgreSQL answers bigint and COUNT(*) as strings. */
function linkedRow(r: Record<string, unknown>): LinkedBlobRow {
  return { name: String(r.name), digest: String(r.digest), size: Number(r.size) };
}
function tagRow(r: Record<string, unknown>): TagRow {
  return { name: String(r.name), tag: String(r.tag), digest: String(r.digest), found: Number(r.found) };
}

/** SQLite + local disk: the default configuration. */
export async function openEmbeddedStack(): Promise<CrashStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-crash-'));
  const uploadsDir = join(dataDir, 'uploads');
  const query = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(join(dataDir, 'berth.db'), { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    dataDir,
    env: {},
    startTimeoutMs: 30_000,
    timing: { cutBodyBytes: 8 * MIB, commitMs: 40 },
    async stagedSizes() {
      const sizes = new Map<string, number>();
      for (const id of await readdir(uploadsDir).catch(() => [] as string[])) {
        sizes.set(id, await stat(join(uploadsDir, id)).then((s) => s.size, () => 0));
      }
      return sizes;
    },
    readStaged: (id) => readFile(join(uploadsDir, id)).catch(() => undefined),
    stagedIds: () => readdir(uploadsDir),
    async countBlobs() {
      let n = 0;
      for (const p of await readdir(join(dataDir, 'blobs', 'sha256')).catch(() => [] as string[])) n += (await readdir(join(dataDir, 'blobs', 'sha256', p)).catch(() => [])).length;
      return n;
    },
    linkedBlobs: async () => query((db) => (db.prepare(LINKED_SQL).all() as Record<string, unknown>[]).map(linkedRow)),
    tags: async () => query((db) => (db.prepare(TAGS_SQL).all() as Record<string, unknown>[]).map(tagRow)),
    uploadSessionIds: async () => query((db) => new Set((db.prepare(UPLOADS_SQL).all() as { id: string }[]).map((r) => r.id))),
    async dispose() {
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ScaleOutTestEnv {
  databaseUrl: string;
  s3Endpoint: string;
  s3Bucket: string;
  s3Region: string;
  s3AccessKeyId: string | undefined;
  s3SecretAccessKey: string | undefined;
}

/** The scale-out test services from the environment (scripts/services/*.sh); undefined when either is missing. */
export function scaleOutTestEnv(env: NodeJS.ProcessEnv = process.env): ScaleOutTestEnv | undefined {
  const databaseUrl = env.BERTH_TEST_DATABASE_URL;
  const s3Endpoint = env.BERTH_TEST_S3_ENDPOINT;
  if (!databaseUrl || !s3Endpoint) return undefined;
  return {
    databaseUrl,
    s3Endpoint,
    s3Bucket: env.BERTH_TEST_S3_BUCKET ?? 'berth-test',
    s3Region: env.BERTH_TEST_S3_REGION ?? 'us-east-1',
    s3AccessKeyId: env.BERTH_TEST_S3_ACCESS_KEY_ID || undefined,
    s3SecretAccessKey: env.BERTH_TEST_S3_SECRET_ACCESS_KEY || undefined,
  };
}

const CHUNK_NAME = /^\d{6}$/;

/**
 * PostgreSQL + S3, one node at a time restarted on the same settings. A fresh schema and a fresh
 * key prefix per run; the data dir holds nothing the node needs (it is stateless).
 */
export async function openScaleOutStack(services: ScaleOutTestEnv): Promise<CrashStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-crash-scale-'));
  const { schema, drop } = await freshSchema(services.databaseUrl);
  const databaseUrl = withSchema(services.databaseUrl, schema);
  const prefix = `crash-${randomBytes(6).toString('hex')}`;
  const bucket = services.s3Bucket;
  const s3 = new S3Client({
    region: services.s3Region,
    endpoint: services.s3Endpoint,
    forcePathStyle: true,
    ...(services.s3AccessKeyId && services.s3SecretAccessKey ? { credentials: { accessKeyId: services.s3AccessKeyId, secretAccessKey: services.s3SecretAccessKey } } : {}),
    // radosgw refuses the SDK's default aws-chunked bodies with checksum trailers (as in src/storage/s3).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const env: Record<string, string> = {
    BERTH_DATABASE_URL: databaseUrl,
    BERTH_DATABASE_POOL_SIZE: '10',
    BERTH_STORAGE: 's3',
    BERTH_S3_ENDPOINT: services.s3Endpoint,
    BERTH_S3_BUCKET: bucket,
    BERTH_S3_REGION: services.s3Region,
    BERTH_S3_FORCE_PATH_STYLE: 'true',
    BERTH_S3_PREFIX: prefix,
    // The smallest chunk S3 allows: an 8 MiB upload is staged as two chunks, a 24 MiB one as five,
    // so kills land between chunk writes and mid-assembly, not only before the first.
    BERTH_S3_CHUNK_MIB: '5',
    ...(services.s3AccessKeyId && services.s3SecretAccessKey ? { BERTH_S3_ACCESS_KEY_ID: services.s3AccessKeyId, BERTH_S3_SECRET_ACCESS_KEY: services.s3SecretAccessKey } : {}),
  };

  async function* list(under: string): AsyncIterable<_Object> {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/${under}`, ...(token ? { ContinuationToken: token } : {}) })).catch((err: unknown) => {
        // The bucket appears with the first server start (Berth creates it when missing).
        if ((err as { name?: string }).name === 'NoSuchBucket') return { Contents: [], IsTruncated: false, NextContinuationToken: undefined };
        throw err;
      });
      yield* page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  /** uploads/<id>/info and uploads/<id>/NNNNNN, grouped by id. */
  async function stagedObjects(): Promise<Map<string, _Object[]>> {
    const byId = new Map<string, _Object[]>();
    for await (const o of list('uploads/')) {
      const id = o.Key!.slice(`${prefix}/uploads/`.length).split('/')[0]!;
      byId.set(id, [...(byId.get(id) ?? []), o]);
    }
    return byId;
  }
  /** The chunks the server would resume from: contiguous from 000000 (S3UploadStaging's rule). */
  function contiguousChunks(id: string, objects: _Object[]): _Object[] {
    const chunks = objects.filter((o) => CHUNK_NAME.test(o.Key!.slice(`${prefix}/uploads/${id}/`.length))).sort((a, b) => a.Key!.localeCompare(b.Key!));
    const out: _Object[] = [];
    for (const c of chunks) {
      if (Number(c.Key!.slice(-6)) !== out.length) break;
      out.push(c);
    }
    return out;
  }
  async function query<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }

  let disposed = false;
  return {
    dataDir,
    env,
    startTimeoutMs: 60_000,
    // A 24 MiB commit is a re-read, five UploadPartCopy, a CompleteMultipartUpload and a delete:
    // about 400 ms on radosgw on loopback. 32 MiB bodies leave most of the body to come after the
    // first 5 MiB chunk is visible.
    timing: { cutBodyBytes: 32 * MIB, commitMs: 450 },
    async stagedSizes() {
      const sizes = new Map<string, number>();
      for (const [id, objects] of await stagedObjects()) sizes.set(id, contiguousChunks(id, objects).reduce((n, c) => n + (c.Size ?? 0), 0));
      return sizes;
    },
    async readStaged(id) {
      const objects = (await stagedObjects()).get(id);
      if (!objects) return undefined;
      const parts: Buffer[] = [];
      try {
        for (const c of contiguousChunks(id, objects)) {
          const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: c.Key! }));
          for await (const piece of res.Body as Readable) parts.push(piece as Buffer);
        }
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined; // committed or aborted meanwhile
        throw err;
      }
      return Buffer.concat(parts);
    },
    stagedIds: async () => [...(await stagedObjects()).keys()],
    async countBlobs() {
      let n = 0;
      for await (const _ of list('blobs/')) n++;
      return n;
    },
    linkedBlobs: () => query(async (c) => (await c.query(LINKED_SQL)).rows.map(linkedRow)),
    tags: () => query(async (c) => (await c.query(TAGS_SQL)).rows.map(tagRow)),
    uploadSessionIds: () => query(async (c) => new Set((await c.query<{ id: string }>(UPLOADS_SQL)).rows.map((r) => r.id))),
    async dispose() {
      if (disposed) return;
      disposed = true;
      try {
        const keys: string[] = [];
        for await (const o of list('')) keys.push(o.Key!);
        for (let i = 0; i < keys.length; i += 16) {
          await Promise.all(keys.slice(i, i + 16).map((Key) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
        }
        // Assemblies a kill cut off (CreateMultipartUpload without Complete) hold parts too.
        const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` })).catch(() => ({ Uploads: [] }));
        for (const u of open.Uploads ?? []) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! })).catch(() => undefined);
      } finally {
        s3.destroy();
        await drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}
