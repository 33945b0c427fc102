import { isDigest, type Digest } from '../domain/digest.ts';
import { RegistryError } from '../domain/errors.ts';
import { isSegmentName, isTag } from '../domain/names.ts';
import type { DownloadCounter } from '../events/download-counter.ts';
import type { ImageSummary, OffsetPage, Paged, TagDetail, TagSummary } from '../metadata/image-store.ts';
import type { ImageRecord, ManifestWithContent } from '../metadata/metadata-store.ts';
import type { BlobRead, Blobs } from './blobs.ts';
import type { RegistryDeps } from './deps.ts';
import type { Manifests } from './manifests.ts';
import { assertMayRemoveTags } from './tag-policy.ts';
import type { Repositories } from './repositories.ts';

/** Stages a tag moves through, only forward. */
export const STAGES = ['', '@prerelease', '@release'] as const;
export type Stage = (typeof STAGES)[number];

export interface TagDetailView {
  tag: TagDetail;
  /** The manifest whose config and layers are described: the tag's own, or an index's default child. */
  described: { digest: Digest; configDigest: Digest | null; size: number; facts: TagDetail['facts'] };
}

/** Accepts `sha256:<hex>` and the seed's `sha256__<hex>`. */
export function parseLayerId(id: string): Digest {
  const digest = id.replace(/^([a-z0-9]+)__/, '$1:');
  if (!isDigest(digest)) throw new RegistryError('PARAMETER_INVALID', `layer id "${id.slice(0, 200)}" is not sha256:<hex> or sha256__<hex>`);
  return digest;
}

export function layerId(digest: string): string {
  return digest.replace(':', '__');
}

/** The management API's view of images: lists, tags, details, deletes, stages. */
export class ImageBrowser {
  constructor(
    private readonly deps: RegistryDeps,
    private readonly repositories: Repositories,
    private readonly manifests: Manifests,
    private readonly blobs: Blobs,
    private readonly downloads: DownloadCounter,
  ) {}

  static imageName(project: string, repo: string, image: string): string {
    return `${project}/${repo}/${image}`;
  }

  /** The repo, or NOT_FOUND naming what is missing. */
  async requireRepo(project: string, repo: string): Promise<void> {
    if (!isSegmentName(project) || !(await this.deps.metadata.namespaces.getProject(project))) {
      throw new RegistryError('NOT_FOUND', `project "${project.slice(0, 100)}" does not exist`);
    }
    if (!isSegmentName(repo) || !(await this.deps.metadata.namespaces.getRepo(project, repo))) {
      throw new RegistryError('NOT_FOUND', `repo "${repo.slice(0, 100)}" does not exist in project "${project}"`);
    }
  }

  async requireImage(project: string, repo: string, image: string): Promise<ImageRecord> {
    await this.requireRepo(project, repo);
    const name = ImageBrowser.imageName(project, repo, image);
    let record: ImageRecord | undefined;
    try {
      record = await this.repositories.find(name);
    } catch {
      record = undefined; // an image name outside the grammar simply does not exist
    }
    if (!record) throw new RegistryError('NOT_FOUND', `image "${image.slice(0, 200)}" does not exist in ${project}/${repo}`);
    return record;
  }

  /** The manifest bytes exactly as pushed, by tag or digest. Not counted as a download. */
  async manifest(project: string, repo: string, image: string, reference: string): Promise<ManifestWithContent> {
    await this.requireImage(project, repo, image);
    try {
      return await this.manifests.get(ImageBrowser.imageName(project, repo, image), reference);
    } catch (err) {
      if (err instanceof RegistryError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'MANIFEST_INVALID' || err.code === 'DIGEST_INVALID')) {
        throw new RegistryError(err.code === 'MANIFEST_UNKNOWN' ? 'NOT_FOUND' : 'PARAMETER_INVALID', `tag or digest "${reference.slice(0, 200)}" ${err.code === 'MANIFEST_UNKNOWN' ? 'does not exist' : 'is not valid'} for image ${image}`);
      }
      throw err;
    }
  }

  /** A blob of this image only (never another image's or project's), with Range support. */
  async layer(project: string, repo: string, image: string, id: string, range: string | undefined): Promise<BlobRead> {
    const digest = parseLayerId(id);
    await this.requireImage(project, repo, image);
    try {
      return await this.blobs.read(ImageBrowser.imageName(project, repo, image), digest, range);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'BLOB_UNKNOWN') {
        throw new RegistryError('NOT_FOUND', `layer ${layerId(digest)} does not belong to image ${image}`);
      }
      throw err;
    }
  }

  async images(project: string, repo: string, page: OffsetPage, nameContains?: string): Promise<Paged<ImageSummary>> {
    await this.requireRepo(project, repo);
    await this.downloads.flush();
    return this.deps.metadata.images.list(project, repo, page, nameContains);
  }

  async tags(project: string, repo: string, image: string, page: OffsetPage): Promise<Paged<TagSummary>> {
    const record = await this.requireImage(project, repo, image);
    await this.downloads.flush();
    return this.deps.metadata.images.tags(record.id, page);
  }

  async tagDetail(project: string, repo: string, image: string, tag: string): Promise<TagDetailView> {
    const record = await this.requireImage(project, repo, image);
    const detail = await this.requireTag(record, image, tag);
    let described: TagDetailView['described'] = { digest: detail.digest, configDigest: detail.configDigest, size: detail.size, facts: detail.facts };
    const platforms = detail.facts?.platforms;
    if (platforms && platforms.length > 0) {
      const child = platforms.find((p) => p.os === 'linux' && p.architecture === 'amd64') ?? platforms.find((p) => p.os !== 'unknown') ?? platforms[0]!;
      const facts = await this.deps.metadata.images.manifestFacts(record.id, child.digest as Digest);
      if (facts) described = { digest: child.digest as Digest, ...facts };
    }
    return { tag: detail, described };
  }

  private async requireTag(record: ImageRecord, image: string, tag: string | undefined): Promise<TagDetail> {
    if (tag === undefined || tag === '') throw new RegistryError('PARAMETER_INVALID', 'query parameter "tag" is required');
    if (!isTag(tag)) throw new RegistryError('PARAMETER_INVALID', `"${tag.slice(0, 200)}" is not a valid tag`);
    await this.downloads.flush();
    const detail = await this.deps.metadata.images.tag(record.id, tag);
    if (!detail) throw new RegistryError('NOT_FOUND', `tag "${tag}" does not exist for image ${image}`);
    return detail;
  }

  /** Deletes the image with all its tags and manifests; its blobs become garbage for GC. */
  async deleteImage(project: string, repo: string, image: string): Promise<void> {
    const record = await this.requireImage(project, repo, image);
    await assertMayRemoveTags(this.deps, record, { image: true });
    await this.deps.metadata.images.delete(record.id);
  }

  async deleteTag(project: string, repo: string, image: string, tag: string | undefined): Promise<void> {
    const record = await this.requireImage(project, repo, image);
    await this.requireTag(record, image, tag);
    await assertMayRemoveTags(this.deps, record, { tag: tag! });
    await this.deps.metadata.manifests.deleteTag(record.id, tag!);
  }

  /** Moves a tag's stage forward ("" -> @prerelease -> @release); the same stage again is a no-op. */
  async setStage(project: string, repo: string, image: string, tag: string | undefined, stage: string | undefined): Promise<Stage> {
    const record = await this.requireImage(project, repo, image);
    const detail = await this.requireTag(record, image, tag);
    const target = STAGES.indexOf((stage ?? '') as Stage);
    if (stage === undefined || stage === '' || target < 0) {
      throw new RegistryError('PARAMETER_INVALID', 'stage must be @prerelease or @release');
    }
    const current = STAGES.indexOf(detail.stage as Stage);
    if (target < current) {
      throw new RegistryError('PARAMETER_INVALID', `tag "${tag}" is already ${detail.stage}; stages only move forward ("" -> @prerelease -> @release)`);
    }
    await this.deps.metadata.images.setStage(record.id, tag!, STAGES[target]!);
    return STAGES[target]!;
  }
}

