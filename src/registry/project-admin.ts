import { RegistryError } from '../domain/errors.ts';
import { isSegmentName, MAX_SEGMENT_LENGTH } from '../domain/names.ts';
import type { ProjectRecord, RepoRecord } from '../metadata/metadata-store.ts';
import type { ProjectUpdate, RepoUpdate } from '../metadata/project-store.ts';
import type { RegistryDeps } from './deps.ts';
import { expiredTags, parseRetentionRules, type RetentionRule } from '../domain/retention.ts';
import type { RetentionTagRow } from '../metadata/gc-store.ts';

export interface ProjectView extends ProjectRecord {
  imageCount: number;
  /** Bytes of the project's distinct blobs and manifests (quota-store.ts). */
  usedBytes: number;
}

export interface RepoView extends RepoRecord {
  imageCount: number;
  usedBytes: number;
}

/** A quota from a request: a non-negative integer number of bytes; null or 0 = unlimited. undefined when absent. */
function checkQuota(value: unknown): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value === 0) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RegistryError('PARAMETER_INVALID', 'quota must be a whole number of bytes (null or 0 for unlimited)');
  }
  return value;
}

function checkBoolean(value: unknown, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new RegistryError('PARAMETER_INVALID', `${what} must be true or false`);
  return value;
}

const MAX_TEXT = 1000;

function checkSegment(value: unknown, what: string): string {
  if (typeof value !== 'string' || !isSegmentName(value)) {
    throw new RegistryError('PARAMETER_INVALID', `${what} must be 1 to ${MAX_SEGMENT_LENGTH} lowercase letters, digits and separators (. _ __ -), starting and ending with a letter or digit`);
  }
  return value;
}

function checkText(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > MAX_TEXT) throw new RegistryError('PARAMETER_INVALID', `${what} must be a string of at most ${MAX_TEXT} characters`);
  return value;
}

/** Projects and repos as first-class records: create, read, update, delete (with force). */
export class ProjectAdmin {
  constructor(private readonly deps: RegistryDeps) {}

  async createProject(input: { name?: unknown; displayName?: unknown; description?: unknown; quota?: unknown }, actor: string): Promise<ProjectView> {
    const name = checkSegment(input.name, 'project name');
    const quotaBytes = checkQuota(input.quota) ?? null;
    const ns = this.deps.metadata.namespaces;
    if (await ns.getProject(name)) throw new RegistryError('CONFLICT', `project "${name}" already exists`);
    await ns.createProject({
      name,
      displayName: checkText(input.displayName, 'displayName') || name,
      description: checkText(input.description, 'description') ?? '',
      createdBy: actor,
      createdAt: this.deps.now(),
      quotaBytes,
    });
    return this.project(name);
  }

  async project(name: string): Promise<ProjectView> {
    const project = isSegmentName(name) ? await this.deps.metadata.namespaces.getProject(name) : undefined;
    if (!project) throw new RegistryError('NOT_FOUND', `project "${name.slice(0, 100)}" does not exist`);
    return { ...project, imageCount: await this.deps.metadata.projects.countImages(name), usedBytes: await this.deps.metadata.quotas.usedBytes(name) };
  }

  async projects(): Promise<ProjectView[]> {
    const out: ProjectView[] = [];
    for (const p of await this.deps.metadata.projects.listProjects()) {
      out.push({ ...p, imageCount: await this.deps.metadata.projects.countImages(p.name), usedBytes: await this.deps.metadata.quotas.usedBytes(p.name) });
    }
    return out;
  }

  async updateProject(name: string, input: { displayName?: unknown; description?: unknown; quota?: unknown }): Promise<ProjectView> {
    const update: ProjectUpdate = {};
    const quotaBytes = checkQuota(input.quota);
    if (quotaBytes !== undefined) update.quotaBytes = quotaBytes;
    const displayName = checkText(input.displayName, 'displayName');
    const description = checkText(input.description, 'description');
    if (displayName !== undefined) update.displayName = displayName;
    if (description !== undefined) update.description = description;
    if (!(await this.deps.metadata.projects.updateProject(name, update))) {
      throw new RegistryError('NOT_FOUND', `project "${name.slice(0, 100)}" does not exist`);
    }
    return this.project(name);
  }

  /** Deletes a project; one that still holds images needs `force`. */
  async deleteProject(name: string, force: boolean): Promise<{ images: number }> {
    const project = await this.project(name);
    if (project.imageCount > 0 && !force) {
      throw new RegistryError('CONFLICT', `project "${name}" still holds ${project.imageCount} image(s); delete them first or pass force=true`);
    }
    await this.deps.metadata.projects.deleteProject(name);
    return { images: project.imageCount };
  }

  async createRepo(input: { projectId?: unknown; name?: unknown; type?: unknown; public?: unknown; description?: unknown; quota?: unknown; immutableTags?: unknown }, actor: string): Promise<RepoView> {
    const project = checkSegment(input.projectId, 'projectId');
    const name = checkSegment(input.name, 'repo name');
    const type = input.type === undefined ? 'DOCKER' : input.type;
    if (type !== 'DOCKER') throw new RegistryError('PARAMETER_INVALID', 'type must be "DOCKER"');
    if (input.public !== undefined && typeof input.public !== 'boolean') throw new RegistryError('PARAMETER_INVALID', 'public must be true or false');
    const quotaBytes = checkQuota(input.quota) ?? null;
    const immutableTags = checkBoolean(input.immutableTags, 'immutableTags') ?? false;
    await this.project(project);
    const ns = this.deps.metadata.namespaces;
    if (await ns.getRepo(project, name)) throw new RegistryError('CONFLICT', `repo "${name}" already exists in project "${project}"`);
    await ns.createRepo({
      project,
      name,
      type,
      public: input.public === true,
      description: checkText(input.description, 'description') ?? '',
      createdBy: actor,
      createdAt: this.deps.now(),
      quotaBytes,
      immutableTags,
    });
    return this.repo(project, name);
  }

  async repo(project: string, name: string): Promise<RepoView> {
    await this.project(project);
    const repo = isSegmentName(name) ? await this.deps.metadata.namespaces.getRepo(project, name) : undefined;
    if (!repo) throw new RegistryError('NOT_FOUND', `repo "${name.slice(0, 100)}" does not exist in project "${project}"`);
    return { ...repo, imageCount: await this.deps.metadata.projects.countImages(project, name), usedBytes: await this.deps.metadata.quotas.usedBytes(project, name) };
  }

  async repos(project: string): Promise<RepoView[]> {
    await this.project(project);
    const out: RepoView[] = [];
    for (const r of await this.deps.metadata.projects.listRepos(project)) {
      out.push({ ...r, imageCount: await this.deps.metadata.projects.countImages(project, r.name), usedBytes: await this.deps.metadata.quotas.usedBytes(project, r.name) });
    }
    return out;
  }

  async updateRepo(project: string, name: string, input: { public?: unknown; description?: unknown; quota?: unknown; immutableTags?: unknown }): Promise<RepoView> {
    await this.repo(project, name);
    const update: RepoUpdate = {};
    const quotaBytes = checkQuota(input.quota);
    if (quotaBytes !== undefined) update.quotaBytes = quotaBytes;
    const immutableTags = checkBoolean(input.immutableTags, 'immutableTags');
    if (immutableTags !== undefined) update.immutableTags = immutableTags;
    if (input.public !== undefined) {
      if (typeof input.public !== 'boolean') throw new RegistryError('PARAMETER_INVALID', 'public must be true or false');
      update.public = input.public;
    }
    const description = checkText(input.description, 'description');
    if (description !== undefined) update.description = description;
    await this.deps.metadata.projects.updateRepo(project, name, update);
    return this.repo(project, name);
  }

  /** Replaces the repo's tag retention rules ([] removes them); GC applies them. */
  async setRetention(project: string, name: string, input: unknown): Promise<RetentionRule[]> {
    await this.repo(project, name);
    const rules = parseRetentionRules(input);
    await this.deps.metadata.projects.updateRepo(project, name, { retention: rules });
    return (await this.repo(project, name)).retention ?? [];
  }

  async retention(project: string, name: string): Promise<RetentionRule[]> {
    return (await this.repo(project, name)).retention ?? [];
  }

  /** The tags the repo's rules would remove now (what the next GC removes), per image, oldest push last. */
  async retentionPreview(project: string, name: string): Promise<{ image: string; tag: string; digest: string; pushedAt: number }[]> {
    const repo = await this.repo(project, name);
    if (repo.immutableTags || !repo.retention || repo.retention.length === 0) return [];
    const byImage = new Map<number, RetentionTagRow[]>();
    for (const t of await this.deps.metadata.gc.repoTags(project, name)) {
      const list = byImage.get(t.imageId) ?? [];
      list.push(t);
      byImage.set(t.imageId, list);
    }
    const out: { image: string; tag: string; digest: string; pushedAt: number }[] = [];
    for (const tags of byImage.values()) {
      for (const t of expiredTags(tags, repo.retention)) out.push({ image: t.image, tag: t.name, digest: t.digest, pushedAt: t.pushedAt });
    }
    return out;
  }

  /** Deletes a repo; one that still holds images needs `force`. */
  async deleteRepo(project: string, name: string, force: boolean): Promise<{ images: number }> {
    const repo = await this.repo(project, name);
    if (repo.imageCount > 0 && !force) {
      throw new RegistryError('CONFLICT', `repo "${project}/${name}" still holds ${repo.imageCount} image(s); delete them first or pass force=true`);
    }
    await this.deps.metadata.projects.deleteRepo(project, name);
    return { images: repo.imageCount };
  }
}
