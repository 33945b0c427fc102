import { RegistryError } from '../domain/errors.ts';
import { parseRepositoryName, type RepositoryName } from '../domain/names.ts';
import type { ImageRecord } from '../metadata/metadata-store.ts';
import type { RegistryDeps } from './deps.ts';

/** Resolves OCI repository names to images, creating projects, repos and images on push. */
export class Repositories {
  constructor(private readonly deps: RegistryDeps) {}

  /** The image, or undefined when it has never been pushed to. Throws NAME_INVALID. */
  async find(name: string): Promise<ImageRecord | undefined> {
    parseRepositoryName(name);
    return this.deps.metadata.namespaces.getImage(name);
  }

  /** The image, or NAME_UNKNOWN. */
  async require(name: string): Promise<ImageRecord> {
    const image = await this.find(name);
    if (!image) throw new RegistryError('NAME_UNKNOWN', `repository ${name} is not known to the registry`, { name });
    return image;
  }

  /**
   * The image to push into. A missing project or repo is created when `mayCreate` (an admin with
   * auto-creation on); otherwise NAME_UNKNOWN names what is missing. The image itself is created
   * on first push.
   */
  async ensureForPush(name: string, actor: string, mayCreate: boolean): Promise<ImageRecord> {
    const parsed = parseRepositoryName(name);
    const existing = await this.deps.metadata.namespaces.getImage(name);
    if (existing) return existing;
    await this.ensureNamespace(parsed, actor, mayCreate);
    return this.deps.metadata.namespaces.ensureImage(parsed, actor, this.deps.now());
  }

  private async ensureNamespace(name: RepositoryName, actor: string, mayCreate: boolean): Promise<void> {
    const ns = this.deps.metadata.namespaces;
    const now = this.deps.now();
    if (!(await ns.getProject(name.project))) {
      if (!mayCreate) {
        throw new RegistryError('NAME_UNKNOWN', `project "${name.project}" does not exist; an administrator must create it first`, { name: name.full });
      }
      await ns.createProject({ name: name.project, displayName: name.project, description: '', createdBy: actor, createdAt: now });
    }
    if (!(await ns.getRepo(name.project, name.repo))) {
      if (!mayCreate) {
        throw new RegistryError('NAME_UNKNOWN', `repo "${name.repo}" does not exist in project "${name.project}"; a project admin must create it first`, { name: name.full });
      }
      await ns.createRepo({ project: name.project, name: name.repo, type: 'DOCKER', public: false, description: '', createdBy: actor, createdAt: now });
    }
  }
}
