import type { RetentionRule } from '../domain/retention.ts';
import type { ProjectRecord, RepoRecord } from './metadata-store.ts';

export interface ProjectUpdate {
  displayName?: string;
  description?: string;
  /** null = unlimited. */
  quotaBytes?: number | null;
}

export interface RepoUpdate {
  public?: boolean;
  description?: string;
  /** null = unlimited. */
  quotaBytes?: number | null;
  immutableTags?: boolean;
  /** Replaces the repo's retention rules; [] removes them. */
  retention?: RetentionRule[];
}

/** Projects and repos as first-class records for the management API. */
export interface ProjectStore {
  listProjects(): Promise<ProjectRecord[]>;
  updateProject(name: string, update: ProjectUpdate): Promise<boolean>;
  /** Deletes the project with its repos and images; false when it was not there. */
  deleteProject(name: string): Promise<boolean>;
  listRepos(project: string): Promise<RepoRecord[]>;
  updateRepo(project: string, name: string, update: RepoUpdate): Promise<boolean>;
  /** Deletes the repo with its images; false when it was not there. */
  deleteRepo(project: string, name: string): Promise<boolean>;
  /** Number of images in the project, or in one repo of it. */
  countImages(project: string, repo?: string): Promise<number>;
}
