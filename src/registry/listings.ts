import type { Digest } from '../domain/digest.ts';
import { RegistryError } from '../domain/errors.ts';
import { type Descriptor, parseManifest } from '../domain/manifest.ts';
import { MediaType } from '../domain/media-types.ts';
import type { RegistryDeps } from './deps.ts';
import type { Repositories } from './repositories.ts';

export interface PageRequest {
  /** Maximum entries; undefined for the server's default. */
  n?: number;
  /** Entries strictly after this one. */
  last?: string;
}

export interface PageResult {
  items: string[];
  /** The `last` value of the next page, when there is one. */
  next?: string;
}

export const MAX_PAGE = 10_000;

/** Parses `n` and `last` query parameters. */
export function parsePageQuery(n: string | undefined, last: string | undefined): PageRequest {
  const page: PageRequest = {};
  if (n !== undefined && n !== '') {
    if (!/^\d{1,9}$/.test(n)) throw new RegistryError('PARAMETER_INVALID', 'n must be a non-negative integer', { n: n.slice(0, 50) });
    page.n = Math.min(Number(n), MAX_PAGE);
  }
  if (last !== undefined && last !== '') {
    // No name or tag holds a control character; PostgreSQL would refuse a NUL with a 500.
    if (last.length > 1000 || /[\u0000-\u001f]/.test(last)) throw new RegistryError('PARAMETER_INVALID', 'last is not a repository name or tag', { last: last.slice(0, 50) });
    page.last = last;
  }
  return page;
}

export interface ReferrersResult {
  index: { schemaVersion: 2; mediaType: string; manifests: Descriptor[] };
  filtered: boolean;
}

/** Catalog, tag lists and referrers: the content-discovery reads. */
export class Listings {
  constructor(
    private readonly deps: RegistryDeps,
    private readonly repositories: Repositories,
  ) {}

  private async page(fetch: (last: string | undefined, limit: number | undefined) => Promise<string[]>, page: PageRequest): Promise<PageResult> {
    if (page.n === 0) return { items: [] };
    const limit = page.n ?? MAX_PAGE;
    const rows = await fetch(page.last, limit + 1);
    if (rows.length > limit) {
      const items = rows.slice(0, limit);
      return { items, next: items[items.length - 1]! };
    }
    return { items: rows };
  }

  /** Tags of a repository in lexical order; NAME_UNKNOWN for a repository never pushed to. */
  async tags(name: string, page: PageRequest): Promise<PageResult> {
    if (page.n === 0) await this.repositories.require(name); // no fetch below: check the name here
    return this.page(async (last, limit) => {
      const tags = await this.deps.metadata.manifests.listTagsByName(name, { ...(last !== undefined ? { last } : {}), ...(limit !== undefined ? { limit } : {}) });
      if (tags.length === 0) await this.repositories.require(name); // NAME_UNKNOWN, or really no tags (past `last`)
      return tags;
    }, page);
  }

  /** Repository names in lexical order, filtered by `visible`. */
  async catalog(page: PageRequest, visible: (name: string) => Promise<boolean>): Promise<PageResult> {
    return this.page(async (last, limit) => {
      const out: string[] = [];
      let cursor = last;
      const want = limit ?? MAX_PAGE;
      // Read in batches so that filtering never starves a page.
      for (;;) {
        const batch = await this.deps.metadata.namespaces.listImageNames({ ...(cursor !== undefined ? { last: cursor } : {}), limit: Math.max(want, 100) });
        for (const name of batch) {
          if (await visible(name)) out.push(name);
          if (out.length >= want) return out;
        }
        if (batch.length < Math.max(want, 100)) return out;
        cursor = batch[batch.length - 1];
      }
    }, page);
  }

  /** The referrers index of `subject` in the repository, optionally filtered by artifact type. */
  async referrers(name: string, subject: Digest, artifactType: string | undefined): Promise<ReferrersResult> {
    const image = await this.repositories.find(name);
    const manifests: Descriptor[] = [];
    if (image) {
      for (const m of await this.deps.metadata.manifests.referrers(image.id, subject)) {
        if (artifactType !== undefined && m.artifactType !== artifactType) continue;
        const descriptor: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
        if (m.artifactType) descriptor.artifactType = m.artifactType;
        const annotations = parseManifest(m.content, m.mediaType).annotations;
        if (annotations && Object.keys(annotations).length > 0) descriptor.annotations = annotations;
        manifests.push(descriptor);
      }
    }
    return { index: { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }, filtered: artifactType !== undefined };
  }
}
