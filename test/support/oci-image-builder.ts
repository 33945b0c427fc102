import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Test images built in code: a minimal ustar writer, gzip from node:zlib, OCI config and
 * manifests, and an OCI image layout on disk that `skopeo copy oci:DIR:TAG ...` reads.
 * Everything is deterministic: the same options give the same bytes and digests.
 */

export const OCI_LAYOUT_VERSION = '1.0.0';
export const MediaTypes = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** A fixed timestamp so that tars and configs are reproducible. */
const EPOCH_SECONDS = 1_700_000_000;
const CREATED = new Date(EPOCH_SECONDS * 1000).toISOString();

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// ustar

export interface TarEntry {
  /** Relative path, `/`-separated; directories may end with `/`. */
  path: string;
  type?: 'file' | 'dir';
  content?: string | Uint8Array;
  /** Permission bits; default 0644 for files, 0755 for directories. */
  mode?: number;
}

const BLOCK = 512;

function writeField(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field too long: ${value}`);
  bytes.copy(header, offset);
}

/** An octal number in `length` bytes: zero-padded digits then NUL. */
function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  writeField(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** Splits a path into ustar `name` (<= 100 bytes) and `prefix` (<= 155 bytes). */
function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(name) <= 100 && Buffer.byteLength(prefix) <= 155) return { name, prefix };
  }
  throw new Error(`path too long for ustar: ${path}`);
}

function tarHeader(entry: TarEntry, size: number): Buffer {
  const dir = entry.type === 'dir';
  const path = dir && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitName(path);
  const header = Buffer.alloc(BLOCK);
  writeField(header, 0, 100, name);
  writeOctal(header, 100, 8, entry.mode ?? (dir ? 0o755 : 0o644));
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, EPOCH_SECONDS);
  header.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  writeField(header, 156, 1, dir ? '5' : '0');
  writeField(header, 257, 6, 'ustar\0');
  writeField(header, 263, 2, '00');
  writeField(header, 265, 32, 'root');
  writeField(header, 297, 32, 'root');
  writeOctal(header, 329, 8, 0); // devmajor
  writeOctal(header, 337, 8, 0); // devminor
  writeField(header, 345, 155, prefix);
  let sum = 0;
  for (const byte of header) sum += byte;
  writeField(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** A ustar archive of `entries`, in the given order, ending with two zero blocks. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.type === 'dir' ? Buffer.alloc(0) : Buffer.from(entry.content ?? '');
    parts.push(tarHeader(entry, content.length), content);
    const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// images

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Buffer;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface BuiltImage {
  kind: 'image';
  /** The manifest's media type (OCI image manifest). */
  mediaType: string;
  manifest: Buffer;
  digest: string;
  config: Blob;
  /** Compressed layers, in manifest order. */
  layers: Blob[];
  /** Digests of the uncompressed layer tars (the config's rootfs.diff_ids). */
  diffIds: string[];
  platform: Platform;
  labels: Record<string, string>;
  history: string[];
}

export interface BuiltIndex {
  kind: 'index';
  mediaType: string;
  manifest: Buffer;
  digest: string;
  children: BuiltImage[];
}

export interface ImageOptions {
  /** Makes the content unique (and the digests different) per image; default 'berth'. */
  seed?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  /** Number of layers, at least 1; default 2. */
  layers?: number;
  /** Size of each layer's incompressible `data.bin`; default 8 KiB. */
  payloadBytes?: number;
  labels?: Record<string, string>;
}

function blob(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

function descriptor(b: { mediaType: string; digest: string; size: number }): { mediaType: string; digest: string; size: number } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** `size` pseudo-random (incompressible) bytes, the same for the same key. */
function pseudoRandomBytes(key: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = createHash('sha256').update(key).digest().readUInt32BE(0) || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < size; i++) out[i] = i & 0xff;
  return out;
}

/** The files of layer `n`: directories, a text file, an executable script, and a data file. */
function layerEntries(seed: string, n: number, platform: Platform, payloadBytes: number): TarEntry[] {
  const dir = `opt/${seed}/layer-${n}`;
  const filler = pseudoRandomBytes(`${seed}/${n}`, payloadBytes);
  return [
    { path: 'opt/', type: 'dir' },
    { path: `opt/${seed}/`, type: 'dir' },
    { path: `${dir}/`, type: 'dir' },
    { path: `${dir}/README.txt`, content: `layer ${n} of ${seed} for ${platform.os}/${platform.architecture}\n` },
    { path: `${dir}/run.sh`, content: `#!/bin/sh\necho "${seed} layer ${n}"\n`, mode: 0o755 },
    { path: `${dir}/data.bin`, content: filler },
  ];
}

/** A single-platform OCI image: gzip layers, an OCI config and an OCI image manifest. */
export function buildImage(options: ImageOptions = {}): BuiltImage {
  const seed = options.seed ?? 'berth';
  const platform: Platform = {
    architecture: options.architecture ?? 'amd64',
    os: options.os ?? 'linux',
    ...(options.variant ? { variant: options.variant } : {}),
  };
  const count = Math.max(1, options.layers ?? 2);
  const layers: Blob[] = [];
  const diffIds: string[] = [];
  const history: string[] = [];
  for (let n = 1; n <= count; n++) {
    const tarBytes = tar(layerEntries(seed, n, platform, options.payloadBytes ?? 8192));
    diffIds.push(sha256(tarBytes));
    layers.push(blob(MediaTypes.OciLayerGzip, gzipSync(tarBytes, { level: 6 })));
    history.push(`/bin/sh -c #(nop) ADD dir:${seed}-layer-${n} in /opt/${seed}/layer-${n}`);
  }
  const labels = { 'org.opencontainers.image.title': seed, 'io.berth.test.seed': seed, ...options.labels };
  const config = {
    created: CREATED,
    author: 'berth e2e tests',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: [`/opt/${seed}/layer-1/run.sh`],
      WorkingDir: '/',
      Labels: labels,
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [
      ...history.map((created_by) => ({ created: CREATED, created_by })),
      { created: CREATED, created_by: `/bin/sh -c #(nop)  CMD ["/opt/${seed}/layer-1/run.sh"]`, empty_layer: true },
    ],
  };
  const configBlob = blob(MediaTypes.OciConfig, Buffer.from(JSON.stringify(config)));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.OciManifest,
      config: descriptor(configBlob),
      layers: layers.map(descriptor),
      annotations: { 'org.opencontainers.image.created': CREATED },
    }),
  );
  return {
    kind: 'image',
    mediaType: MediaTypes.OciManifest,
    manifest,
    digest: sha256(manifest),
    config: configBlob,
    layers,
    diffIds,
    platform,
    labels,
    history: config.history.map((h) => h.created_by),
  };
}

/** An OCI image index over single-platform images (each child carries its platform). */
export function buildIndex(children: BuiltImage[]): BuiltIndex {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.OciIndex,
      manifests: children.map((c) => ({ ...descriptor({ mediaType: c.mediaType, digest: c.digest, size: c.manifest.length }), platform: c.platform })),
    }),
  );
  return { kind: 'index', mediaType: MediaTypes.OciIndex, manifest, digest: sha256(manifest), children };
}

/** A linux/amd64 + linux/arm64 (v8) index whose children share nothing. */
export function buildMultiArchIndex(seed = 'multi'): BuiltIndex {
  return buildIndex([
    buildImage({ seed: `${seed}-amd64`, architecture: 'amd64' }),
    buildImage({ seed: `${seed}-arm64`, architecture: 'arm64', variant: 'v8' }),
  ]);
}

/** Every layer digest of an image or of all children of an index, in order. */
export function layerDigests(image: BuiltImage | BuiltIndex): string[] {
  return image.kind === 'image' ? image.layers.map((l) => l.digest) : image.children.flatMap((c) => c.layers.map((l) => l.digest));
}

// ---------------------------------------------------------------------------------------------
// OCI image layout

async function writeBlob(dir: string, digest: string, bytes: Buffer): Promise<void> {
  const [algorithm, hex] = digest.split(':') as [string, string];
  await mkdir(join(dir, 'blobs', algorithm), { recursive: true });
  await writeFile(join(dir, 'blobs', algorithm, hex), bytes);
}

async function writeImageBlobs(dir: string, image: BuiltImage): Promise<void> {
  await writeBlob(dir, image.config.digest, image.config.bytes);
  for (const layer of image.layers) await writeBlob(dir, layer.digest, layer.bytes);
  await writeBlob(dir, image.digest, image.manifest);
}

/**
 * Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) at `dir` holding `root`
 * under the tag `tag` (the `org.opencontainers.image.ref.name` annotation), for `oci:DIR:TAG`.
 */
export async function writeOciLayout(dir: string, tag: string, root: BuiltImage | BuiltIndex): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
  if (root.kind === 'image') await writeImageBlobs(dir, root);
  else {
    for (const child of root.children) await writeImageBlobs(dir, child);
    await writeBlob(dir, root.digest, root.manifest);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.OciIndex,
    manifests: [
      {
        mediaType: root.mediaType,
        digest: root.digest,
        size: root.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}
