import type { MemberStore, ProjectRole } from '../metadata/auth-store.ts';
import type { NamespaceStore } from '../metadata/metadata-store.ts';
import { type Action, type Authorizer, type Grant, isAuthenticated, type Principal } from './principal.ts';

/** What each project role may do on the repositories of its project. */
export const ROLE_ACTIONS: Readonly<Record<ProjectRole, readonly Action[]>> = {
  admin: ['pull', 'push', 'delete', 'delete-tag'],
  developer: ['pull', 'push', 'delete-tag'],
  guest: ['pull'],
};

const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'delete-tag'];
/** What a system admin may do anywhere: one set for every request, never changed. */
const EVERY_ACTION: ReadonlySet<Action> = new Set(ALL_ACTIONS);

/** The actions a token grant entry covers: its `delete` includes `delete-tag`, `*` everything. */
function grantedByToken(grants: readonly Grant[], type: string, name: string): Set<Action> {
  const out = new Set<Action>();
  for (const g of grants) {
    if (g.type !== type || g.name !== name) continue;
    for (const a of g.actions) {
      if (a === '*') ALL_ACTIONS.forEach((x) => out.add(x));
      else if (a === 'delete') {
        out.add('delete');
        out.add('delete-tag');
      } else if (a === 'pull' || a === 'push') out.add(a);
    }
  }
  return out;
}

/** `{project}/{repo}/...` split just far enough to find the project and repo. */
function projectAndRepo(repository: string): { project: string; repo: string } | undefined {
  const parts = repository.split('/');
  if (parts.length < 3 || !parts[0] || !parts[1]) return undefined;
  return { project: parts[0], repo: parts[1] };
}

/**
 * Decides on `(principal, repository, action)`, in one place:
 * - system admins may do everything;
 * - project members by role: admin pull/push/delete (and manage the project), developer
 *   pull/push/delete tags, guest pull;
 * - a public repo may be pulled by anyone, anonymous callers included, and nothing more;
 * - a bearer JWT narrows all of that to the grants it carries.
 */
export class RoleAuthorizer implements Authorizer {
  constructor(
    private readonly deps: { members: MemberStore; namespaces: Pick<NamespaceStore, 'getRepo'>; autoCreate: boolean },
  ) {}

  async authorize(principal: Principal | undefined, repository: string, actions: readonly Action[]): Promise<Action[]> {
    if (actions.length === 0) return [];
    const allowed = await this.roleActions(principal, repository, actions);
    if (principal?.grants) {
      const token = grantedByToken(principal.grants, 'repository', repository);
      return actions.filter((a) => allowed.has(a) && token.has(a));
    }
    return actions.filter((a) => allowed.has(a));
  }

  /** Like authorize, but ignoring a bearer token's grants: what the principal could be granted. */
  async grantable(principal: Principal | undefined, repository: string, actions: readonly Action[]): Promise<Action[]> {
    const allowed = await this.roleActions(principal, repository, actions);
    return actions.filter((a) => allowed.has(a));
  }

  private async roleActions(principal: Principal | undefined, repository: string, wanted: readonly Action[]): Promise<ReadonlySet<Action>> {
    if (isAuthenticated(principal) && principal.admin) return EVERY_ACTION;
    const out = new Set<Action>();
    const where = projectAndRepo(repository);
    if (!where) return out;
    if (isAuthenticated(principal)) {
      const role = await this.deps.members.getRole(where.project, principal.name);
      if (role) ROLE_ACTIONS[role].forEach((a) => out.add(a));
    }
    if (wanted.includes('pull') && !out.has('pull')) {
      const repo = await this.deps.namespaces.getRepo(where.project, where.repo);
      if (repo?.public) out.add('pull');
    }
    return out;
  }

  mayCreateNamespaces(principal: Principal | undefined): boolean {
    return this.deps.autoCreate && isAuthenticated(principal) && principal.admin;
  }

  mayListCatalog(principal: Principal | undefined): boolean {
    return isAuthenticated(principal) && this.catalogGrantOk(principal);
  }

  async visibleInCatalog(principal: Principal | undefined, repository: string): Promise<boolean> {
    return (await this.grantable(principal, repository, ['pull'])).length > 0;
  }

  /** A bearer JWT proves who the caller is; management rights follow the roles, not the token's repository grants. */
  async mayManageProject(principal: Principal | undefined, project: string): Promise<boolean> {
    if (!isAuthenticated(principal)) return false;
    if (principal.admin) return true;
    return (await this.deps.members.getRole(project, principal.name)) === 'admin';
  }

  private catalogGrantOk(principal: Principal): boolean {
    return !principal.grants || grantedByToken(principal.grants, 'registry', 'catalog').size > 0;
  }
}
