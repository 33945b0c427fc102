import { isDigest, type Digest } from './digest.ts';
import { RegistryError } from './errors.ts';
import { jsonValuesWithin, MAX_JSON_VALUES } from './json-values.ts';
import {
  baseMediaType,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  MANIFEST_TYPES,
  MediaType,
  SCHEMA1_TYPES,
} from './media-types.ts';

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
}

/** What the registry needs to know of a manifest: its kind and everything it references. */
export interface ParsedManifest {
  mediaType: string;
  /** The manifest's `artifactType`, or for an image manifest without one its config's media type. */
  artifactType?: string;
  config?: Descriptor;
  /** Blobs the manifest needs (config excluded); foreign layers with `urls` are listed too. */
  layers: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

const GENERIC_TYPES = new Set(['application/json', 'application/octet-stream']);

function invalid(message: string, detail?: unknown): never {
  throw new RegistryError('MANIFEST_INVALID', message, detail);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = obj[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') invalid(`${where}.${key} must be a string`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) invalid(`${where} must be an object of strings`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') invalid(`${where}["${key.slice(0, 100)}"] must be a string`);
  }
  return value as Record<string, string>;
}

function parsePlatform(value: unknown, where: string): Platform | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) invalid(`${where} must be an object`);
  const architecture = optionalString(value, 'architecture', where);
  const os = optionalString(value, 'os', where);
  if (architecture === undefined || os === undefined) invalid(`${where} needs architecture and os`);
  const platform: Platform = { architecture, os };
  const variant = optionalString(value, 'variant', where);
  if (variant !== undefined) platform.variant = variant;
  const osVersion = optionalString(value, 'os.version', where);
  if (osVersion !== undefined) platform['os.version'] = osVersion;
  return platform;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isRecord(value)) invalid(`${where} must be a descriptor object`);
  const mediaType = optionalString(value, 'mediaType', where);
  if (mediaType === undefined || mediaType === '') invalid(`${where}.mediaType is required`);
  const digest = value.digest;
  if (typeof digest !== 'string' || !isDigest(digest)) invalid(`${where}.digest is not a valid digest`, { digest });
  const size = value.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) invalid(`${where}.size must be a non-negative integer`);
  const descriptor: Descriptor = { mediaType, digest, size };
  const artifactType = optionalString(value, 'artifactType', where);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  if (annotations !== undefined) descriptor.annotations = annotations;
  const platform = parsePlatform(value.platform, `${where}.platform`);
  if (platform !== undefined) descriptor.platform = platform;
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) invalid(`${where}.urls must be an array of strings`);
    descriptor.urls = value.urls as string[];
  }
  return descriptor;
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(`${where} must be an array`);
  return value.map((item, i) => parseDescriptor(item, `${where}[${i}]`));
}

/** Decides the manifest's media type from the request's Content-Type and the body's own field. */
function resolveMediaType(body: Record<string, unknown>, contentType: string | undefined): string {
  const declared = body.mediaType;
  if (declared !== undefined && typeof declared !== 'string') invalid('mediaType must be a string');
  const header = baseMediaType(contentType);
  const fromHeader = header !== undefined && !GENERIC_TYPES.has(header) ? header : undefined;
  if (body.schemaVersion === 1 || SCHEMA1_TYPES.has(declared ?? '') || SCHEMA1_TYPES.has(fromHeader ?? '')) {
    invalid('Docker schema1 manifests are not supported: push the image as Docker schema2 or OCI (for example `skopeo copy --format v2s2` or `--format oci`)');
  }
  if (declared !== undefined && fromHeader !== undefined && declared !== fromHeader) {
    invalid(`Content-Type ${fromHeader} does not match the manifest's mediaType ${declared}`);
  }
  const mediaType = declared ?? fromHeader ?? (body.manifests !== undefined ? MediaType.OciIndex : MediaType.OciManifest);
  if (!MANIFEST_TYPES.has(mediaType)) {
    invalid(`unsupported manifest media type ${mediaType.slice(0, 200)}: expected an OCI image manifest or index, or a Docker schema2 manifest or manifest list`);
  }
  return mediaType;
}

/**
 * A manifest's bytes as text: JSON is UTF-8 (RFC 8259), and a byte sequence that is not would
 * reach clients as replacement characters, under a digest of other bytes. A byte order mark is
 * kept, so JSON.parse refuses it as before.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses and validates a manifest body. Throws MANIFEST_INVALID (or 413 for an oversized body)
 * with a message that says what is wrong. Pure: existence of referenced content is checked by the caller.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new RegistryError('MANIFEST_INVALID', `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`, undefined, { status: 413 });
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    invalid('manifest is not valid UTF-8 (JSON must be)');
  }
  if (!jsonValuesWithin(bytes)) invalid(`manifest holds more than ${MAX_JSON_VALUES} JSON values`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    invalid('manifest is not valid JSON');
  }
  if (!isRecord(body)) invalid('manifest must be a JSON object');
  const mediaType = resolveMediaType(body, contentType);
  if (body.schemaVersion !== 2) invalid('schemaVersion must be 2');

  const parsed: ParsedManifest = { mediaType, layers: [], manifests: [] };
  const artifactType = optionalString(body, 'artifactType', 'manifest');
  const annotations = stringMap(body.annotations, 'annotations');
  if (annotations !== undefined) parsed.annotations = annotations;
  if (body.subject !== undefined) parsed.subject = parseDescriptor(body.subject, 'subject');

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    if (body.manifests !== undefined) invalid(`an image manifest (${mediaType}) must not have "manifests"`);
    if (body.config === undefined) invalid('config is required in an image manifest');
    parsed.config = parseDescriptor(body.config, 'config');
    if (body.layers === undefined && mediaType === MediaType.DockerManifest) invalid('layers is required in a Docker schema2 manifest');
    parsed.layers = descriptorList(body.layers, 'layers');
    // An empty artifactType counts as missing (image-spec): the config's media type stands for it.
    parsed.artifactType = artifactType || parsed.config.mediaType;
  } else if (INDEX_TYPES.has(mediaType)) {
    if (body.config !== undefined || body.layers !== undefined) invalid(`an index (${mediaType}) must not have "config" or "layers"`);
    if (body.manifests === undefined) invalid('manifests is required in an index');
    parsed.manifests = descriptorList(body.manifests, 'manifests');
    if (artifactType) parsed.artifactType = artifactType;
  }
  return parsed;
}

/** Every blob digest the manifest needs stored in the repository (config and non-foreign layers). */
export function requiredBlobs(manifest: ParsedManifest): Descriptor[] {
  const blobs: Descriptor[] = [];
  if (manifest.config) blobs.push(manifest.config);
  for (const layer of manifest.layers) {
    if (layer.urls !== undefined && layer.urls.length > 0) continue; // foreign layer: lives elsewhere
    blobs.push(layer);
  }
  return blobs;
}
