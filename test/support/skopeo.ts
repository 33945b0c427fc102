import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from './oci-image-builder.ts';

export interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The command line, for assertion messages. */
  command: string;
}

const SKOPEO_TIMEOUT_MS = 90_000;

/**
 * skopeo's home: its blob-info cache (which decides when it tries cross-repository mounts) and
 * config live here, not in the developer's home, so runs do not influence each other.
 */
let skopeoHome: string | undefined;
function skopeoEnv(): NodeJS.ProcessEnv {
  if (skopeoHome === undefined) {
    const home = mkdtempSync(join(tmpdir(), 'berth-e2e-skopeo-home-'));
    skopeoHome = home;
    process.once('exit', () => rmSync(home, { recursive: true, force: true }));
  }
  const home = skopeoHome;
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache'), XDG_RUNTIME_DIR: join(home, 'run') };
  delete env.REGISTRY_AUTH_FILE;
  delete env.REGISTRIES_CONFIG_PATH;
  return env;
}

/** Runs skopeo with `args` (no shell); resolves with its exit code and output, never rejects on a non-zero exit. */
export function skopeo(args: string[]): Promise<SkopeoResult> {
  const command = `skopeo ${args.map((a) => (/^[\w@:./=,-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile('skopeo', args, { env: skopeoEnv(), timeout: SKOPEO_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new Error(`cannot run ${command}: ${err.message}`));
        return;
      }
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr, command });
    });
  });
}

/** Like skopeo(), but throws with the command and stderr when it fails. */
export async function skopeoOk(args: string[]): Promise<SkopeoResult> {
  const result = await skopeo(args);
  if (result.code !== 0) throw new Error(`${result.command} exited ${result.code}:\n${result.stderr}${result.stdout}`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Reading what a pull wrote

export interface PulledImage {
  /** Digest of the (top-level) manifest as stored on disk. */
  digest: string;
  mediaType: string;
  manifest: Buffer;
  configDigest?: string;
  /** Layer digests named by the manifest, in order (for an index: every child's, in order). */
  layers: string[];
  /** Children of an index. */
  children: PulledImage[];
}

interface RawManifest {
  mediaType?: string;
  config?: { digest: string };
  layers?: { digest: string }[];
  manifests?: { digest: string; mediaType: string }[];
}

/** Reads a blob, checking that its bytes hash to its name. */
async function readVerified(path: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(path);
  const actual = sha256(bytes);
  if (actual !== digest) throw new Error(`${path} should have digest ${digest} but hashes to ${actual}`);
  return bytes;
}

function ociBlobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(dir, 'blobs', algorithm, hex);
}

async function readOciManifest(dir: string, digest: string): Promise<PulledImage> {
  const bytes = await readVerified(ociBlobPath(dir, digest), digest);
  const parsed = JSON.parse(bytes.toString('utf8')) as RawManifest;
  const children: PulledImage[] = [];
  for (const child of parsed.manifests ?? []) children.push(await readOciManifest(dir, child.digest));
  const own = parsed.layers?.map((l) => l.digest) ?? [];
  // Every blob the manifest names must be on disk with the right bytes.
  for (const layer of own) await readVerified(ociBlobPath(dir, layer), layer);
  if (parsed.config) await readVerified(ociBlobPath(dir, parsed.config.digest), parsed.config.digest);
  return {
    digest,
    mediaType: parsed.mediaType ?? '',
    manifest: bytes,
    ...(parsed.config ? { configDigest: parsed.config.digest } : {}),
    layers: parsed.manifests ? children.flatMap((c) => c.layers) : own,
    children,
  };
}

/** Reads an OCI layout written by `skopeo copy ... oci:DIR[:TAG]` (the single entry, or the one tagged TAG). */
export async function readOciPull(dir: string, tag?: string): Promise<PulledImage> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = tag === undefined ? index.manifests[0] : index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`no manifest${tag ? ` tagged ${tag}` : ''} in ${dir}/index.json`);
  return readOciManifest(dir, entry.digest);
}

/** Reads a single-image `dir:` transport directory (manifest.json, blobs named by hex). */
export async function readDirPull(dir: string): Promise<PulledImage> {
  const manifest = await readFile(join(dir, 'manifest.json'));
  const parsed = JSON.parse(manifest.toString('utf8')) as RawManifest;
  const layers = parsed.layers?.map((l) => l.digest) ?? [];
  for (const digest of [...layers, ...(parsed.config ? [parsed.config.digest] : [])]) {
    await readVerified(join(dir, digest.split(':')[1]!), digest);
  }
  return {
    digest: sha256(manifest),
    mediaType: parsed.mediaType ?? '',
    manifest,
    ...(parsed.config ? { configDigest: parsed.config.digest } : {}),
    layers,
    children: [],
  };
}
