import type { StatsStore } from './stats-store.ts';
import type { Digest } from '../domain/digest.ts';
import type { ImageFacts } from '../domain/image-facts.ts';
import type { RetentionRule } from '../domain/retention.ts';
import type { RepositoryName } from '../domain/names.ts';
import type { AuthStore } from './auth-store.ts';
import type { GcStore } from './gc-store.ts';
import type { IntegrityStore } from './integrity-store.ts';
import type { ImageStore } from './image-store.ts';
import type { ProjectStore } from './project-store.ts';
import type { QuotaStore } from './quota-store.ts';

/** Times are milliseconds since the epoch (UTC). */
export interface ProjectRecord {
  name: string;
  displayName: string;
  description: string;
  createdBy: string;
  createdAt: number;
  /** Quota in bytes; null (or absent) = unlimited (quota-store.ts). */
  quotaBytes?: number | null;
}

export interface RepoRecord {
  project: string;
  name: string;
  type: string;
  public: boolean;
  description: string;
  createdBy: string;
  createdAt: number;
  /** Quota in bytes; null (or absent) = unlimited (quota-store.ts). */
  quotaBytes?: number | null;
  /** A pushed tag cannot be moved to another digest or deleted. */
  immutableTags?: boolean;
  /** Tag retention rules GC applies; empty = none. */
  retention?: RetentionRule[];
}

/** An image: one OCI repository `{project}/{repo}/{image}`. */
export interface ImageRecord {
  id: number;
  name: string;
  project: string;
  repo: string;
  image: string;
  createdBy: string;
  createdAt: number;
}

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  size: number;
  subject: Digest | null;
  configDigest: Digest | null;
  createdAt: number;
  createdBy: string;
}

export interface ManifestWithContent extends ManifestRecord {
  content: Buffer;
}

export interface NewManifest extends ManifestRecord {
  content: Buffer;
  /** Config + layers in bytes; for an index the sum over its children. */
  totalSize: number;
  facts: ImageFacts | null;
  /** Blobs (config and layers) the manifest references. */
  blobRefs: Digest[];
  /** Child manifests an index references. */
  manifestRefs: Digest[];
  /**
   * When true, the put re-checks in its transaction that every blob ref is a live blob (and links
   * it to the image) and every manifest ref a manifest of the image, rejecting with
   * MANIFEST_BLOB_UNKNOWN / MANIFEST_UNKNOWN otherwise: what keeps a concurrent GC from deleting
   * what the manifest references (gc-store.ts).
   */
  verifyRefs?: boolean;
}

export interface TagRecord {
  name: string;
  digest: Digest;
  stage: string;
  downloadCount: number;
  createdAt: number;
  updatedAt: number;
  updatedBy: string;
}

export interface UploadRecord {
  id: string;
  imageId: number;
  createdAt: number;
  updatedAt: number;
}

export interface UserRecord {
  id: number;
  name: string;
  passwordHash: string;
  admin: boolean;
  disabled: boolean;
  createdAt: number;
}

export interface Page {
  /** Exclusive lower bound in the listing's sort order. */
  last?: string;
  /** Maximum number of rows; undefined for all. */
  limit?: number;
}

export interface NamespaceStore {
  getProject(name: string): Promise<ProjectRecord | undefined>;
  /** Idempotent: an existing project is left as it is. */
  createProject(project: ProjectRecord): Promise<void>;
  getRepo(project: string, name: string): Promise<RepoRecord | undefined>;
  /** Idempotent: an existing repo is left as it is. */
  createRepo(repo: RepoRecord): Promise<void>;
  getImage(name: string): Promise<ImageRecord | undefined>;
  /** Returns the existing image when it is already there (concurrent pushes). */
  ensureImage(name: RepositoryName, createdBy: string, now: number): Promise<ImageRecord>;
  /** Image names (full OCI repository names) in lexical order. */
  listImageNames(page: Page): Promise<string[]>;
}

export interface BlobIndex {
  /**
   * Records a blob, before its bytes are committed, and protects it from GC for the grace
   * period; idempotent. Waits while GC is deleting the same digest; UNAVAILABLE if that lasts.
   */
  putBlob(digest: Digest, size: number, now: number): Promise<void>;
  getBlob(digest: Digest): Promise<{ size: number } | undefined>;
  /**
   * Makes the blob part of the image; idempotent. false (and no link) when the blob is not
   * recorded or GC is deleting it; DENIED when the link would exceed a quota (quota-store.ts).
   * With `uploadId` (an upload's finish), that upload session is deleted in the same transaction
   * as the link is made: both or neither; on false or DENIED the session stays.
   */
  link(imageId: number, digest: Digest, now: number, uploadId?: string): Promise<boolean>;
  /** The blob's size when it is linked to the image named `imageName` (one lookup: the pull path). */
  getLinkedByName(imageName: string, digest: Digest): Promise<{ size: number } | undefined>;
  /** The blob's size when it is linked to the image. */
  getLinked(imageId: number, digest: Digest): Promise<{ size: number } | undefined>;
  /** Sizes of those of `digests` that are linked to the image; absent ones are not in the map. */
  linkedSizes(imageId: number, digests: Digest[]): Promise<Map<Digest, number>>;
  /** true when a link was removed. */
  unlink(imageId: number, digest: Digest): Promise<boolean>;
}

export interface ManifestIndex {
  /** Stores the manifest (idempotent by digest) and, when given, points the tag at it; atomic. */
  /**
   * With `tag.immutable`, a tag that already points at another digest is not moved: DENIED.
   * Enforces the project's and repo's quotas in the same transaction (quota-store.ts).
   */
  put(imageId: number, manifest: NewManifest, tag?: { name: string; actor: string; now: number; immutable?: boolean }): Promise<void>;
  get(imageId: number, digest: Digest): Promise<ManifestWithContent | undefined>;
  getByTag(imageId: number, tag: string): Promise<ManifestWithContent | undefined>;
  /**
   * The manifest by tag or digest in the image named `imageName`, with the image's id, in one
   * lookup (the pull path); undefined when the image or the manifest is missing.
   */
  findInImage(imageName: string, ref: { tag: string } | { digest: Digest }): Promise<{ imageId: number; manifest: ManifestWithContent } | undefined>;
  /** Those of `digests` that are not manifests of the image. */
  missing(imageId: number, digests: Digest[]): Promise<Digest[]>;
  /** Deletes the manifest and every tag pointing at it; false when it was not there. */
  delete(imageId: number, digest: Digest): Promise<boolean>;
  deleteTag(imageId: number, tag: string): Promise<boolean>;
  /** Names of the image's tags that point at `digest`. */
  tagsOf(imageId: number, digest: Digest): Promise<string[]>;
  listTags(imageId: number, page: Page): Promise<string[]>;
  /** listTags of the image named `imageName`, in one lookup; [] also when there is no such image. */
  listTagsByName(imageName: string, page: Page): Promise<string[]>;
  /** `totalSize` of each of `digests` that is a manifest of the image. */
  totalSizes(imageId: number, digests: Digest[]): Promise<Map<Digest, number>>;
  /** Manifests of the image whose `subject` is `digest`, oldest first. */
  referrers(imageId: number, subject: Digest): Promise<ManifestWithContent[]>;
}

export interface UploadIndex {
  create(upload: UploadRecord): Promise<void>;
  get(id: string): Promise<UploadRecord | undefined>;
  /**
   * The upload session with its image, in one lookup (every upload request checks its session);
   * undefined when there is no such session or it belongs to no image named `imageName`.
   */
  findInImage(imageName: string, id: string): Promise<{ upload: UploadRecord; image: ImageRecord } | undefined>;
  /** Marks the session used at `now`; false when there is no such session (expired and removed). */
  touch(id: string, now: number): Promise<boolean>;
  delete(id: string): Promise<void>;
}

export interface UserStore {
  getByName(name: string): Promise<UserRecord | undefined>;
  create(user: Omit<UserRecord, 'id'>): Promise<UserRecord>;
  count(): Promise<number>;
}

/** All metadata of the registry. SQL lives only behind this interface. */
export interface MetadataStore {
  readonly namespaces: NamespaceStore;
  readonly blobs: BlobIndex;
  readonly manifests: ManifestIndex;
  readonly uploads: UploadIndex;
  readonly users: UserStore;
  /** Users, access tokens, members, service accounts, audit log, signing keys (auth-store.ts). */
  readonly auth: AuthStore;
  readonly images: ImageStore;
  readonly projects: ProjectStore;
  /** Storage used per project and repo, quota checks (quota-store.ts). */
  readonly quotas: QuotaStore;
  /** Online garbage collection (gc-store.ts). */
  readonly gc: GcStore;
  /** Consistency checks and repairs for `berth fsck` (integrity-store.ts). */
  readonly integrity: IntegrityStore;
  /** Registry-wide totals for metrics (stats-store.ts). */
  readonly stats: StatsStore;
  /** Checks the database answers (for readiness probes). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
