import type { Action, Authorizer, Principal } from './principal.ts';

/**
 * Decides on `(principal, repository, action)`. For now: system admins may do everything and
 * nobody else anything; project roles and public repos plug in here.
 */
export class RoleAuthorizer implements Authorizer {
  constructor(private readonly options: { autoCreate: boolean }) {}

  async authorize(principal: Principal | undefined, _repository: string, actions: readonly Action[]): Promise<Action[]> {
    if (principal?.admin) return [...actions];
    return [];
  }

  mayCreateNamespaces(principal: Principal | undefined): boolean {
    return this.options.autoCreate && principal?.admin === true;
  }
}
