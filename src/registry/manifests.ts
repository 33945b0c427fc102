import { digestAlgorithm, digestOf, isDigest, type Digest } from '../domain/digest.ts';
import { RegistryError } from '../domain/errors.ts';
import { MANIFEST_TYPES, MediaType, baseMediaType, INDEX_TYPES } from '../domain/media-types.ts';
import { imageFacts, indexFacts, type ImageFacts } from '../domain/image-facts.ts';
import { parseManifest, requiredBlobs, type ParsedManifest } from '../domain/manifest.ts';
import { isTag } from '../domain/names.ts';
import type { ImageRecord, ManifestWithContent } from '../metadata/metadata-store.ts';
import type { RegistryDeps } from './deps.ts';
import type { PushContext } from './uploads.ts';
import type { Repositories } from './repositories.ts';
import { assertMayRemoveTags } from './tag-policy.ts';
import { ConfigCache } from './config-cache.ts';

const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.OciConfig, MediaType.DockerConfig]);
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Manifests whose size and facts are remembered (a few hundred bytes each). */
const DESCRIPTION_CACHE_ENTRIES = 1000;

interface Description {
  totalSize: number;
  facts: ImageFacts | null;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** Parses a manifest reference: a digest when it has a colon, else a tag. */
export function parseReference(value: string): Reference {
  if (value.includes(':')) {
    if (!isDigest(value)) throw new RegistryError('DIGEST_INVALID', 'reference is not a valid digest', { reference: value.slice(0, 200) });
    return { kind: 'digest', digest: value };
  }
  if (!isTag(value)) throw new RegistryError('MANIFEST_INVALID', 'tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', { tag: value.slice(0, 200) });
  return { kind: 'tag', tag: value };
}

/**
 * A reference to look up (GET, HEAD, DELETE): a malformed tag cannot name anything stored, so it
 * is MANIFEST_UNKNOWN (404) rather than a 400; a malformed digest stays DIGEST_INVALID.
 */
function lookupReference(value: string, name: string): Reference {
  if (!value.includes(':') && !isTag(value)) {
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${value.slice(0, 200)} is not in repository ${name}`, { reference: value.slice(0, 200) });
  }
  return parseReference(value);
}

export interface PutManifestResult {
  digest: Digest;
  subject?: Digest;
}

/** Accept headers parsed lately: a client sends the same one on every pull. */
const parsedAccepts = new Map<string, ReadonlySet<string>>();
/** Distinct Accept headers kept parsed; past it the map starts over. */
const PARSED_ACCEPTS_MAX = 256;
/** Longer Accept headers are parsed every time rather than kept. */
const PARSED_ACCEPT_MAX_LENGTH = 4096;

/** Parses an Accept header into the set of media types it names (without parameters). */
function acceptedTypes(accept: string | undefined): ReadonlySet<string> | undefined {
  if (accept === undefined) return undefined;
  const known = parsedAccepts.get(accept);
  if (known) return known;
  if (accept.trim() === '') return undefined;
  const types = new Set<string>();
  for (const part of accept.split(',')) {
    const type = baseMediaType(part);
    if (type) types.add(type);
  }
  if (accept.length <= PARSED_ACCEPT_MAX_LENGTH) {
    if (parsedAccepts.size >= PARSED_ACCEPTS_MAX) parsedAccepts.clear();
    parsedAccepts.set(accept, types);
  }
  return types;
}

/** Manifest reads, writes and deletes, with content negotiation and reference validation. */
export class Manifests {
  constructor(
    private readonly deps: RegistryDeps,
    private readonly repositories: Repositories,
    /** Shared with Uploads, which fills it as configs are pushed. */
    private readonly configs: ConfigCache = new ConfigCache(),
  ) {}

  /**
   * The manifest for a tag or digest. By tag, when the client's Accept excludes the stored type
   * and the stored manifest is an index, the linux/amd64 child is served instead (as Docker
   * expects of clients that cannot read indexes); otherwise MANIFEST_UNKNOWN explains the
   * mismatch. By digest, always the manifest with that digest.
   */
  async get(name: string, reference: string, accept?: string): Promise<ManifestWithContent> {
    const ref = lookupReference(reference, name);
    // One lookup when the manifest is there; the errors (which of image or manifest is missing) take two.
    let found = await this.deps.metadata.manifests.findInImage(name, ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest });
    if (!found) {
      const image = await this.repositories.require(name);
      const manifest = await this.lookup(image, ref); // it may have appeared in between
      if (!manifest) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not in repository ${name}`, { reference });
      found = { imageId: image.id, manifest };
    }
    const { imageId, manifest } = found;
    // A digest names exactly one manifest: the client gets it whatever its Accept header says
    // (an index asked for by digest is never swapped for one of its children).
    if (ref.kind === 'digest') return manifest;
    const accepted = acceptedTypes(accept);
    if (!accepted || accepted.has(manifest.mediaType) || accepted.has('*/*') || ![...accepted].some((t) => MANIFEST_TYPES.has(t) || t.startsWith('application/vnd.docker.distribution.manifest.v1'))) {
      return manifest;
    }
    if (INDEX_TYPES.has(manifest.mediaType)) {
      const child = await this.defaultPlatformChild(imageId, manifest, accepted);
      if (child) return child;
    }
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is ${manifest.mediaType}, which the request's Accept header does not allow`, { reference });
  }

  private async lookup(image: ImageRecord, ref: Reference): Promise<ManifestWithContent | undefined> {
    return ref.kind === 'tag'
      ? this.deps.metadata.manifests.getByTag(image.id, ref.tag)
      : this.deps.metadata.manifests.get(image.id, ref.digest);
  }

  private async defaultPlatformChild(imageId: number, index: ManifestWithContent, accepted: ReadonlySet<string>): Promise<ManifestWithContent | undefined> {
    const parsed = parseManifest(index.content, index.mediaType);
    const child = parsed.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64' && accepted.has(m.mediaType));
    return child && this.deps.metadata.manifests.get(imageId, child.digest);
  }

  /** Validates and stores a manifest; with a tag reference, points the tag at it atomically. */
  async put(name: string, reference: string, body: Buffer, contentType: string | undefined, ctx: PushContext): Promise<PutManifestResult> {
    const ref = parseReference(reference);
    const parsed = parseManifest(body, contentType);
    const digest = digestOf(body, ref.kind === 'digest' ? digestAlgorithm(ref.digest) : 'sha256');
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest digest is ${digest}, not ${ref.digest}`, { expected: ref.digest, actual: digest });
    }
    const image = await this.repositories.ensureForPush(name, ctx.actor, ctx.mayCreate);

    const blobs = requiredBlobs(parsed);
    const linked = await this.deps.metadata.blobs.linkedSizes(image.id, blobs.map((b) => b.digest));
    const unknown = blobs.filter((b) => !linked.has(b.digest));
    if (unknown.length > 0) {
      // The spec's detail names the missing blob as `digest`; every missing one is listed too.
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${unknown[0]!.digest} is not in repository ${name}`, { digest: unknown[0]!.digest, digests: unknown.map((b) => b.digest) });
    }
    const wrongSize = blobs.find((b) => linked.get(b.digest) !== b.size);
    if (wrongSize) {
      throw new RegistryError('MANIFEST_INVALID', `descriptor of ${wrongSize.digest} says ${wrongSize.size} bytes but the blob has ${linked.get(wrongSize.digest)}`, { digest: wrongSize.digest });
    }
    const children = parsed.manifests.map((m) => m.digest);
    const missingChildren = await this.deps.metadata.manifests.missing(image.id, children);
    if (missingChildren.length > 0) {
      // The spec's code for any descriptor the registry does not have, manifests included.
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${missingChildren[0]} referenced by the index is not in repository ${name}`, { digest: missingChildren[0], digests: missingChildren });
    }

    const { totalSize, facts } = await this.describe(image, parsed, digest);
    const now = this.deps.now();
    await this.deps.metadata.manifests.put(
      image.id,
      {
        digest,
        mediaType: parsed.mediaType,
        artifactType: parsed.artifactType ?? null,
        size: body.length,
        subject: parsed.subject?.digest ?? null,
        configDigest: parsed.config?.digest ?? null,
        createdAt: now,
        createdBy: ctx.actor,
        content: body,
        blobRefs: blobs.map((b) => b.digest),
        manifestRefs: children,
        verifyRefs: true,
        totalSize,
        facts,
      },
      ref.kind === 'tag' ? { name: ref.tag, actor: ctx.actor, now } : undefined,
    );
    return parsed.subject ? { digest, subject: parsed.subject.digest } : { digest };
  }

  /**
   * Size and facts the management API shows, computed once here: an image's config + layers and
   * what its config says; an index's children summed, with their platforms.
   */
  private async describe(image: ImageRecord, parsed: ParsedManifest, digest: Digest): Promise<Description> {
    const cached = this.descriptions.get(digest);
    if (cached) return cached;
    let description: Description;
    let complete = true;
    if (INDEX_TYPES.has(parsed.mediaType)) {
      const children = parsed.manifests.map((m) => m.digest);
      const sizes = await this.deps.metadata.manifests.totalSizes(image.id, children);
      complete = children.every((d) => sizes.has(d));
      description = { totalSize: [...sizes.values()].reduce((a, b) => a + b, 0), facts: indexFacts(parsed.manifests) };
    } else {
      const totalSize = (parsed.config?.size ?? 0) + parsed.layers.reduce((a, l) => a + l.size, 0);
      const wantsConfig = parsed.config !== undefined && IMAGE_CONFIG_TYPES.has(parsed.config.mediaType) && parsed.config.size <= MAX_CONFIG_BYTES;
      const config = wantsConfig ? await this.readSmallBlob(parsed.config!.digest, parsed.config!.size) : undefined;
      complete = !wantsConfig || config !== undefined;
      description = { totalSize, facts: imageFacts(parsed.layers, config) };
    }
    // A function of the digest's bytes (and those of the config and children they name), so it
    // never goes stale; kept only when nothing was missing while computing it.
    if (complete) {
      if (this.descriptions.size >= DESCRIPTION_CACHE_ENTRIES) this.descriptions.delete(this.descriptions.keys().next().value!);
      this.descriptions.set(digest, description);
    }
    return description;
  }

  /** Size and facts of recently pushed manifests by digest: re-tagging one skips reading its config. */
  private readonly descriptions = new Map<Digest, Description>();

  private async readSmallBlob(digest: Digest, size: number): Promise<Buffer | undefined> {
    const cached = this.configs.get(digest);
    if (cached) return cached;
    try {
      const chunks: Buffer[] = [];
      // The exact range (the size was checked against the blob): no read buffer larger than the config.
      for await (const chunk of await this.deps.blobs.read(digest, size > 0 ? { start: 0, end: size - 1 } : undefined)) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      this.configs.remember(digest, bytes);
      return bytes;
    } catch {
      return undefined; // facts are a convenience: a config that cannot be read leaves them empty
    }
  }

  /** By digest: the manifest and its tags. By tag: only the tag. */
  async delete(name: string, reference: string): Promise<void> {
    const ref = lookupReference(reference, name);
    const image = await this.repositories.require(name);
    await assertMayRemoveTags(this.deps, image, ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest });
    const deleted = ref.kind === 'tag'
      ? await this.deps.metadata.manifests.deleteTag(image.id, ref.tag)
      : await this.deps.metadata.manifests.delete(image.id, ref.digest);
    if (!deleted) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not in repository ${name}`, { reference });
  }
}

