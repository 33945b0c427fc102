/** Who makes a request, once authenticated. Anonymous requests have no principal. */
export interface Principal {
  /** The user or service account name; '' for an anonymous bearer token. */
  readonly name: string;
  /** A system administrator: may do everything, including creating projects on push. */
  readonly admin: boolean;
  /** Absent means 'user'. An 'anonymous' principal holds an anonymous bearer token and nothing else. */
  readonly kind?: 'user' | 'service' | 'anonymous';
  /**
   * Set when the request carried a bearer JWT: nothing beyond these grants is allowed, whatever
   * the roles say (and the roles still apply, so a revoked membership takes effect at once).
   */
  readonly grants?: readonly Grant[];
}

/**
 * `delete` deletes manifests, blobs and whole images; `delete-tag` removes a tag only (what
 * developers may). A token's `delete` grant covers both.
 */
export type Action = 'pull' | 'push' | 'delete' | 'delete-tag';

/** One entry of a token's `access` claim (Docker token-auth spec). */
export interface Grant {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface AuthContext {
  /** The client address, for throttling and the audit log. */
  readonly ip: string;
  /** `X-BKREPO-UID`: the user a service account acts for (Platform authentication only). */
  readonly uid?: string | undefined;
}

/** Turns the request's credentials into a principal. */
export interface Authenticator {
  /**
   * undefined when no credentials were sent; throws UNAUTHORIZED when credentials were sent but
   * are wrong (so a bad password is never silently treated as anonymous), TOOMANYREQUESTS while
   * the user or address is throttled after failed logins.
   */
  authenticate(authorization: string | undefined, context: AuthContext): Promise<Principal | undefined>;
}

/** Decides, per request, what a principal may do. The only place permissions are decided. */
export interface Authorizer {
  /** The subset of `actions` the principal may perform on the OCI repository `repository`. */
  authorize(principal: Principal | undefined, repository: string, actions: readonly Action[]): Promise<Action[]>;
  /** Whether the principal may create projects and repos by pushing into them. */
  mayCreateNamespaces(principal: Principal | undefined): boolean;
  /** Whether the principal may list the catalog (`registry:catalog:*`); entries are filtered by pull rights. */
  mayListCatalog(principal: Principal | undefined): boolean;
  /**
   * Whether the catalog shows the repository to the principal: it may pull it by its roles (a
   * bearer token's `registry:catalog:*` grant opens the catalog; its repository grants do not
   * narrow the listing).
   */
  visibleInCatalog(principal: Principal | undefined, repository: string): Promise<boolean>;
  /** Project admins and system admins: manage members and repos, read the project's audit log. */
  mayManageProject(principal: Principal | undefined, project: string): Promise<boolean>;
}

/** Whether the principal is a real (non-anonymous) caller. */
export function isAuthenticated(principal: Principal | undefined): principal is Principal {
  return principal !== undefined && principal.kind !== 'anonymous';
}
