/**
 * A small registry client for the benchmark: node:http with keep-alive, bodies streamed, blob
 * data generated on the fly (never a whole large blob in memory).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Registry } from './servers.ts';

export const MiB = 1024 * 1024;
const GEN_CHUNK = MiB;

export const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method: string;
  headers?: Record<string, string>;
  /** A buffer, or a stream of exactly the Content-Length given in headers. */
  body?: Buffer | Readable;
  /** Consume the response body into `onData` instead of buffering it. */
  sink?: (chunk: Buffer) => void;
}

/** One request against `registry`, authenticated as the bench user. Rejects on network errors only. */
export function request(registry: Registry, pathOrUrl: string, opts: RequestOptions): Promise<Response> {
  const url = new URL(pathOrUrl, registry.baseUrl);
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (registry.authorization) headers.authorization = registry.authorization;
  if (Buffer.isBuffer(opts.body)) headers['content-length'] = String(opts.body.length);
  else if (opts.body === undefined && (opts.method === 'PUT' || opts.method === 'POST' || opts.method === 'PATCH')) headers['content-length'] ??= '0';
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        if (opts.sink) opts.sink(chunk);
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body === undefined) req.end();
    else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else pipeline(opts.body, req).catch(reject);
  });
}

/** Throws with the response when its status is not `expected`. */
export function expectStatus(res: Response, expected: number | number[], what: string): Response {
  const ok = Array.isArray(expected) ? expected.includes(res.status) : res.status === expected;
  if (!ok) throw new Error(`${what}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  return res;
}

/**
 * Deterministic pseudo-random bytes: a 1 MiB random block per seed with each chunk's index
 * stamped into its first bytes, so every MiB differs and nothing compresses or dedups.
 */
export class BlobSource {
  private readonly block: Buffer;
  private digestCache: string | undefined;

  constructor(
    readonly size: number,
    seed = 1,
  ) {
    this.block = createHash('sha512').update(`seed${seed}`).digest();
    const block = Buffer.allocUnsafe(GEN_CHUNK);
    // Expand the seed into a full block (sha512 chains: cheap, deterministic).
    let prev = this.block;
    for (let off = 0; off < GEN_CHUNK; off += 64) {
      prev = createHash('sha512').update(prev).digest();
      prev.copy(block, off);
    }
    this.block = block;
  }

  /** The stream of `size` bytes from `start`, which must be a multiple of 1 MiB. */
  stream(start = 0, end = this.size): Readable {
    const block = this.block;
    let index = start / GEN_CHUNK;
    let offset = start;
    return new Readable({
      highWaterMark: 4 * GEN_CHUNK,
      read() {
        if (offset >= end) {
          this.push(null);
          return;
        }
        const n = Math.min(GEN_CHUNK, end - offset);
        const chunk = Buffer.allocUnsafe(n);
        block.copy(chunk, 0, 0, n);
        if (n >= 8) chunk.writeBigUInt64LE(BigInt(index), 0);
        index++;
        offset += n;
        this.push(chunk);
      },
    });
  }

  async digest(): Promise<string> {
    if (this.digestCache) return this.digestCache;
    const hash = createHash('sha256');
    await pipeline(this.stream(), new Writable({ write(chunk, _e, done) { hash.update(chunk); done(); } }));
    this.digestCache = `sha256:${hash.digest('hex')}`;
    return this.digestCache;
  }
}

export const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Starts an upload session; returns the Location to continue at. */
export async function startUpload(registry: Registry, name: string): Promise<string> {
  const res = expectStatus(await request(registry, `/v2/${name}/blobs/uploads/`, { method: 'POST' }), 202, `POST upload ${name}`);
  return res.headers.location!;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** POST then one PUT carrying the whole blob (the way docker and containerd push "monolithically"). */
export async function pushMonolithic(registry: Registry, name: string, digest: string, size: number, body: Buffer | Readable): Promise<void> {
  const location = await startUpload(registry, name);
  const res = await request(registry, withDigest(location, digest), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
  });
  expectStatus(res, 201, `PUT blob ${name}`);
}

/** POST, PATCH chunks of `chunkSize` with Content-Range, then PUT ?digest= without a body. */
export async function pushChunked(registry: Registry, name: string, source: BlobSource, chunkSize: number): Promise<void> {
  const digest = await source.digest();
  let location = await startUpload(registry, name);
  for (let start = 0; start < source.size; start += chunkSize) {
    const end = Math.min(source.size, start + chunkSize);
    const res = await request(registry, location, {
      method: 'PATCH',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start),
        'content-range': `${start}-${end - 1}`,
      },
      body: source.stream(start, end),
    });
    expectStatus(res, 202, `PATCH ${name} at ${start}`);
    location = res.headers.location!;
  }
  expectStatus(await request(registry, withDigest(location, digest), { method: 'PUT' }), 201, `PUT chunked ${name}`);
}

let curlAvailable: boolean | undefined;
/** Whether curl and openssl are installed (then pulls go through them, see pullBlob). */
function hasCurl(): boolean {
  if (curlAvailable === undefined) {
    try {
      execFileSync('curl', ['--version'], { stdio: 'ignore' });
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      curlAvailable = true;
    } catch {
      curlAvailable = false;
    }
  }
  return curlAvailable;
}

/**
 * GETs a blob, optionally hashing it; returns the bytes received. With curl installed (and
 * BENCH_PULL_CLIENT not `node`), curl is the client, into /dev/null or through `openssl dgst`
 * (coreutils' sha256sum runs at 180 MB/s here, OpenSSL at 1.9 GB/s): a Node client reading the
 * socket tops out near 700 MB/s here and would measure itself, not the registry.
 */
export async function pullBlob(registry: Registry, name: string, digest: string, verify: boolean): Promise<number> {
  if (process.env.BENCH_PULL_CLIENT !== 'node' && hasCurl()) return pullBlobWithCurl(registry, name, digest, verify);
  return pullBlobWithNode(registry, name, digest, verify);
}

async function pullBlobWithCurl(registry: Registry, name: string, digest: string, verify: boolean): Promise<number> {
  const url = new URL(`/v2/${name}/blobs/${digest}`, registry.baseUrl).toString();
  const auth = registry.authorization ? `-H ${shellQuote(`authorization: ${registry.authorization}`)}` : '';
  // -w goes to stderr so stdout stays the blob; the status must be 200, the size whole.
  const curl = `curl -sS --fail -w '%{stderr}%{http_code} %{size_download}' ${auth} ${shellQuote(url)}`;
  const script = verify ? `set -o pipefail; ${curl} | openssl dgst -sha256 -r` : `${curl} -o /dev/null`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    // --norc: with stdin a socket (Node's pipes are socketpairs) bash takes itself for an rsh
    // session and runs ~/.bashrc, whose pyenv init serialises 32 concurrent pulls on a lock.
    execFile('bash', ['--norc', '--noprofile', '-c', script], { maxBuffer: 1024 * 1024 }, (err, out, errOut) => (err ? reject(new Error(`curl GET ${url}: ${errOut || err.message}`)) : resolve({ stdout: out, stderr: errOut })));
  });
  const [status, size] = stderr.trim().split(' ');
  if (status !== '200') throw new Error(`GET blob ${name}: HTTP ${status} (curl's stderr: ${stderr.trim()})`);
  if (verify && `sha256:${stdout.trim().split(/\s+/)[0]}` !== digest) throw new Error(`pulled blob ${digest} does not match its digest`);
  return Number(size);
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function pullBlobWithNode(registry: Registry, name: string, digest: string, verify: boolean): Promise<number> {
  let received = 0;
  const hash = verify ? createHash('sha256') : undefined;
  const res = await request(registry, `/v2/${name}/blobs/${digest}`, {
    method: 'GET',
    sink: (chunk) => {
      received += chunk.length;
      hash?.update(chunk);
    },
  });
  expectStatus(res, 200, `GET blob ${name}`);
  if (hash && `sha256:${hash.digest('hex')}` !== digest) throw new Error(`pulled blob ${digest} does not match its digest`);
  return received;
}

export interface SmallImage {
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
  digest: string;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A unique single-layer image: 4 KiB random layer, a small config, its OCI manifest. */
export function smallImage(i: number, layerSize = 4096): SmallImage {
  const layer = randomBytes(layerSize);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Env: [`BENCH=${i}`] },
    rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    history: [{ created: new Date(0).toISOString(), created_by: `bench ${i}` }],
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  }));
  return { layer, config, manifest, digest: sha256(manifest) };
}

/** Pushes layer, config (each POST + PUT) and the manifest under `tag`. */
export async function pushSmallImage(registry: Registry, name: string, image: SmallImage, tag: string): Promise<void> {
  await pushMonolithic(registry, name, sha256(image.layer), image.layer.length, image.layer);
  await pushMonolithic(registry, name, sha256(image.config), image.config.length, image.config);
  await putManifest(registry, name, tag, image.manifest);
}

export async function putManifest(registry: Registry, name: string, reference: string, manifest: Buffer): Promise<void> {
  const res = await request(registry, `/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: manifest });
  expectStatus(res, 201, `PUT manifest ${name}:${reference}`);
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
export async function parallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  });
  await Promise.all(workers);
}

/** Follows `Link: <...>; rel="next"` from `first`; returns the pages' item counts. */
export async function listAllPages(registry: Registry, first: string, items: (body: Buffer) => number): Promise<{ pages: number; items: number }> {
  let url: string | undefined = first;
  let pages = 0;
  let total = 0;
  while (url) {
    const res = expectStatus(await request(registry, url, { method: 'GET' }), 200, `GET ${url}`);
    pages++;
    total += items(res.body);
    const link = res.headers.link;
    const m = typeof link === 'string' ? /<([^>]+)>;\s*rel="?next"?/.exec(link) : null;
    url = m ? m[1] : undefined;
    if (pages > 100_000) throw new Error('pagination does not end');
  }
  return { pages, items: total };
}
