import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { TestServer } from './test-server.ts';

/** Builders for blobs, image manifests and indexes, plus small push helpers over `/v2`. */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface Blob {
  bytes: Buffer<ArrayBuffer>;
  digest: string;
  size: number;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
  urls?: string[];
}

export interface Manifest {
  bytes: Buffer<ArrayBuffer>;
  digest: string;
  mediaType: string;
  /** Its descriptor, for use as a subject or as an index child. */
  descriptor: Descriptor;
}

export function blob(content: Buffer | string): Blob {
  const bytes = Buffer.from(content);
  return { bytes, digest: sha256(bytes), size: bytes.length };
}

export function randomBlob(size: number): Blob {
  return blob(randomBytes(size));
}

/** A unique image config (a random author makes each digest unique). */
export function configBlob(): Blob {
  return blob(JSON.stringify({ architecture: 'amd64', os: 'linux', author: randomBytes(8).toString('hex'), rootfs: { type: 'layers', diff_ids: [] } }, null, '\t'));
}

export const EMPTY_JSON = blob('{}');

export function describe(b: Blob, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: b.digest, size: b.size, ...extra };
}

function asManifest(body: Record<string, unknown>, mediaType: string): Manifest {
  const bytes = Buffer.from(JSON.stringify(body, null, '\t'));
  const digest = sha256(bytes);
  return { bytes, digest, mediaType, descriptor: { mediaType, digest, size: bytes.length } };
}

export interface ImageManifestOptions {
  config: Descriptor;
  layers?: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The body's own mediaType field; `null` leaves it out. */
  mediaType?: string | null;
}

export function imageManifest(options: ImageManifestOptions): Manifest {
  const mediaType = options.mediaType === undefined ? OCI_MANIFEST : options.mediaType;
  const body: Record<string, unknown> = { schemaVersion: 2 };
  if (mediaType !== null) body.mediaType = mediaType;
  if (options.artifactType !== undefined) body.artifactType = options.artifactType;
  body.config = options.config;
  body.layers = options.layers ?? [];
  if (options.subject) body.subject = options.subject;
  if (options.annotations) body.annotations = options.annotations;
  return asManifest(body, mediaType ?? OCI_MANIFEST);
}

export interface IndexOptions {
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function imageIndex(options: IndexOptions): Manifest {
  const body: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_INDEX };
  if (options.artifactType !== undefined) body.artifactType = options.artifactType;
  body.manifests = options.manifests;
  if (options.subject) body.subject = options.subject;
  if (options.annotations) body.annotations = options.annotations;
  return asManifest(body, OCI_INDEX);
}

let counter = 0;
/** A fresh `{project}/{repo}/{image}` name, unique within the process. */
export function uniqueName(prefix = 'app'): string {
  counter += 1;
  return `demo/docker/${prefix}-${process.pid}-${counter}`;
}

/** Pushes a blob the way the conformance suite does: POST for a session, then PUT with the digest. */
export async function pushBlob(server: TestServer, name: string, b: Blob): Promise<Response> {
  const start = await server.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202, await start.text());
  const location = start.headers.get('location');
  assert.ok(location, 'POST must answer with a Location');
  const put = await server.fetch(withQuery(relative(location), { digest: b.digest }), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(b.size) },
    body: b.bytes,
  });
  assert.equal(put.status, 201, await put.clone().text());
  return put;
}

export async function pushManifest(server: TestServer, name: string, reference: string, m: Manifest): Promise<Response> {
  const res = await server.fetch(`/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': m.mediaType },
    body: m.bytes,
  });
  assert.equal(res.status, 201, await res.clone().text());
  return res;
}

/** A simple image (config + one layer) pushed under `tag`, returned with its parts. */
export async function pushImage(server: TestServer, name: string, tag: string): Promise<{ config: Blob; layer: Blob; manifest: Manifest }> {
  const config = configBlob();
  const layer = randomBlob(64);
  await pushBlob(server, name, config);
  await pushBlob(server, name, layer);
  const manifest = imageManifest({ config: describe(config, OCI_CONFIG), layers: [describe(layer, OCI_LAYER_GZIP)] });
  await pushManifest(server, name, tag, manifest);
  return { config, layer, manifest };
}

/** The path and query of a Location header, absolute or relative. */
export function relative(location: string): string {
  const url = new URL(location, 'http://placeholder');
  return `${url.pathname}${url.search}`;
}

export function withQuery(path: string, query: Record<string, string>): string {
  const url = new URL(path, 'http://placeholder');
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return `${url.pathname}${url.search}`;
}

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** Asserts the response is an OCI error with `status` and first error `code`; returns the body. */
export async function expectOciError(res: Response, status: number, code: string): Promise<OciErrorBody> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as OciErrorBody;
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, text);
  assert.equal(body.errors[0]!.code, code, text);
  assert.equal(typeof body.errors[0]!.message, 'string');
  return body;
}
