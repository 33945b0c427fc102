import type { Digest } from '../domain/digest.ts';
import type { ImageFacts } from '../domain/image-facts.ts';

export interface OffsetPage {
  offset: number;
  limit: number;
}

export interface Paged<T> {
  total: number;
  items: T[];
}

export interface ImageSummary {
  id: number;
  /** The image part of the name (may contain `/`). */
  image: string;
  createdBy: string;
  createdAt: number;
  downloadCount: number;
}

export interface TagSummary {
  tag: string;
  digest: Digest;
  stage: string;
  /** Config + layers in bytes (for an index: the sum over its children). */
  size: number;
  downloadCount: number;
  lastModifiedBy: string;
  lastModifiedAt: number;
  mediaType: string;
}

export interface TagDetail extends TagSummary {
  configDigest: Digest | null;
  facts: ImageFacts | null;
}

/** One download to count: a manifest GET of `image` (full name), by `tag` when pulled by tag. */
export interface DownloadEvent {
  image: string;
  tag?: string;
  count: number;
}

/** Reads and changes of images as the management API sees them. */
export interface ImageStore {
  /** Images of one repo, by image name, optionally filtered by a substring of it. */
  list(project: string, repo: string, page: OffsetPage, nameContains?: string): Promise<Paged<ImageSummary>>;
  tags(imageId: number, page: OffsetPage): Promise<Paged<TagSummary>>;
  tag(imageId: number, tag: string): Promise<TagDetail | undefined>;
  /** Size, config and facts of one manifest of the image. */
  manifestFacts(imageId: number, digest: Digest): Promise<{ configDigest: Digest | null; size: number; facts: ImageFacts | null } | undefined>;
  /** Sets the tag's stage; false when the tag does not exist. */
  setStage(imageId: number, tag: string, stage: string): Promise<boolean>;
  /** Deletes the image with its tags, manifests and blob links; false when it was not there. */
  delete(imageId: number): Promise<boolean>;
  /** Adds download counts, in one transaction. */
  addDownloads(events: DownloadEvent[]): Promise<void>;
}
