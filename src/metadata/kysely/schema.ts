import type { Generated } from 'kysely';

/** Row types of the metadata database; times are epoch milliseconds, booleans 0/1. */
export interface Database {
  projects: {
    name: string;
    display_name: string;
    description: string;
    created_by: string;
    created_at: number;
    /** Bytes; NULL (or 0) = unlimited. */
    quota_bytes: Generated<number | null>;
  };
  repos: {
    project: string;
    name: string;
    type: string;
    public: number;
    description: string;
    created_by: string;
    created_at: number;
    /** Bytes; NULL (or 0) = unlimited. */
    quota_bytes: Generated<number | null>;
    immutable_tags: Generated<number>;
    /** JSON array of RetentionRule; NULL = none. */
    retention: Generated<string | null>;
  };
  images: {
    id: Generated<number>;
    name: string;
    project: string;
    repo: string;
    image: string;
    created_by: string;
    created_at: number;
    download_count: Generated<number>;
  };
  blobs: {
    digest: string;
    size: number;
    created_at: number;
    /** Last time something linked or referenced the blob (GC grace period counts from it). */
    touched_at: Generated<number>;
    /** 1 while garbage collection deletes the blob: it can no longer be linked or referenced. */
    deleting: Generated<number>;
  };
  image_blobs: {
    image_id: number;
    digest: string;
    created_at: number;
  };
  manifests: {
    image_id: number;
    digest: string;
    media_type: string;
    artifact_type: string | null;
    size: number;
    subject: string | null;
    config_digest: string | null;
    content: Buffer;
    created_at: number;
    created_by: string;
    total_size: Generated<number>;
    facts: string | null;
  };
  manifest_refs: {
    image_id: number;
    digest: string;
    ref: string;
    kind: string;
  };
  tags: {
    image_id: number;
    name: string;
    digest: string;
    stage: string;
    download_count: number;
    created_at: number;
    updated_at: number;
    updated_by: string;
  };
  uploads: {
    id: string;
    image_id: number;
    created_at: number;
    updated_at: number;
  };
  users: {
    id: Generated<number>;
    name: string;
    password_hash: string;
    admin: number;
    disabled: number;
    created_at: number;
  };
}
