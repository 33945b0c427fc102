import { RegistryError } from '../domain/errors.ts';
import { isSegmentName, MAX_SEGMENT_LENGTH } from '../domain/names.ts';
import type { ProjectRecord, RepoRecord } from '../metadata/metadata-store.ts';
import type { ProjectUpdate, RepoUpdate } from '../metadata/project-store.ts';
import type { RegistryDeps } from './deps.ts';

export interface ProjectView extends ProjectRecord {
  imageCount: number;
}

export interface RepoView extends RepoRecord {
  imageCount: number;
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

  async createProject(input: { name?: unknown; displayName?: unknown; description?: unknown }, actor: string): Promise<ProjectView> {
    const name = checkSegment(input.name, 'project name');
    const ns = this.deps.metadata.namespaces;
    if (await ns.getProject(name)) throw new RegistryError('CONFLICT', `project "${name}" already exists`);
    await ns.createProject({
      name,
      displayName: checkText(input.displayName, 'displayName') || name,
      description: checkText(input.description, 'description') ?? '',
      createdBy: actor,
      createdAt: this.deps.now(),
    });
    return this.project(name);
  }

  async project(name: string): Promise<ProjectView> {
    const project = isSegmentName(name) ? await this.deps.metadata.namespaces.getProject(name) : undefined;
    if (!project) throw new RegistryError('NOT_FOUND', `project "${name.slice(0, 100)}" does not exist`);
    return { ...project, imageCount: await this.deps.metadata.projects.countImages(name) };
  }

  async projects(): Promise<ProjectView[]> {
    const out: ProjectView[] = [];
    for (const p of await this.deps.metadata.projects.listProjects()) {
      out.push({ ...p, imageCount: await this.deps.metadata.projects.countImages(p.name) });
    }
    return out;
  }

  async updateProject(name: string, input: { displayName?: unknown; description?: unknown }): Promise<ProjectView> {
    const update: ProjectUpdate = {};
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

  async createRepo(input: { projectId?: unknown; name?: unknown; type?: unknown; public?: unknown; description?: unknown }, actor: string): Promise<RepoView> {
    const project = checkSegment(input.projectId, 'projectId');
    const name = checkSegment(input.name, 'repo name');
    const type = input.type === undefined ? 'DOCKER' : input.type;
    if (type !== 'DOCKER') throw new RegistryError('PARAMETER_INVALID', 'type must be "DOCKER"');
    if (input.public !== undefined && typeof input.public !== 'boolean') throw new RegistryError('PARAMETER_INVALID', 'public must be true or false');
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
    });
    return this.repo(project, name);
  }

  async repo(project: string, name: string): Promise<RepoView> {
    await this.project(project);
    const repo = isSegmentName(name) ? await this.deps.metadata.namespaces.getRepo(project, name) : undefined;
    if (!repo) throw new RegistryError('NOT_FOUND', `repo "${name.slice(0, 100)}" does not exist in project "${project}"`);
    return { ...repo, imageCount: await this.deps.metadata.projects.countImages(project, name) };
  }

  async repos(project: string): Promise<RepoView[]> {
    await this.project(project);
    const out: RepoView[] = [];
    for (const r of await this.deps.metadata.projects.listRepos(project)) {
      out.push({ ...r, imageCount: await this.deps.metadata.projects.countImages(project, r.name) });
    }
    return out;
  }

  async updateRepo(project: string, name: string, input: { public?: unknown; description?: unknown }): Promise<RepoView> {
    await this.repo(project, name);
    const update: RepoUpdate = {};
    if (input.public !== undefined) {
      if (typeof input.public !== 'boolean') throw new RegistryError('PARAMETER_INVALID', 'public must be true or false');
      update.public = input.public;
    }
    const description = checkText(input.description, 'description');
    if (description !== undefined) update.description = description;
    await this.deps.metadata.projects.updateRepo(project, name, update);
    return this.repo(project, name);
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
