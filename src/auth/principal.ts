/** Who makes a request, once authenticated. Anonymous requests have no principal. */
export interface Principal {
  readonly name: string;
  /** A system administrator: may do everything, including creating projects on push. */
  readonly admin: boolean;
}

export type Action = 'pull' | 'push' | 'delete';

/** Turns the request's credentials into a principal. */
export interface Authenticator {
  /**
   * undefined when no credentials were sent; throws UNAUTHORIZED when credentials were sent but
   * are wrong (so a bad password is never silently treated as anonymous).
   */
  authenticate(authorization: string | undefined, context: { ip: string }): Promise<Principal | undefined>;
}

/** Decides, per request, what a principal may do on a repository. */
export interface Authorizer {
  /** The subset of `actions` the principal may perform on the OCI repository `repository`. */
  authorize(principal: Principal | undefined, repository: string, actions: readonly Action[]): Promise<Action[]>;
  /** Whether the principal may create projects and repos by pushing into them. */
  mayCreateNamespaces(principal: Principal | undefined): boolean;
}
