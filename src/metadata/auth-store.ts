import type { UserRecord, UserStore } from './metadata-store.ts';

/** A project role, from most to least powerful. */
export type ProjectRole = 'admin' | 'developer' | 'guest';
export const PROJECT_ROLES: readonly ProjectRole[] = ['admin', 'developer', 'guest'];

/**
 * A personal access token (usable wherever a password is) or a refresh token (docker login's
 * offline token, usable only for `grant_type=refresh_token`). Only the secret's sha256 is stored.
 */
export interface AccessTokenRecord {
  id: string;
  user: string;
  name: string;
  kind: 'personal' | 'refresh';
  secretHash: string;
  createdAt: number;
  /** null: never expires. */
  expiresAt: number | null;
}

export interface MemberRecord {
  project: string;
  /** A user or service account name. */
  member: string;
  role: ProjectRole;
  createdBy: string;
  createdAt: number;
}

/** A service account for CI systems: `Authorization: Platform base64(AK:SK)`. Only the SK's sha256 is stored. */
export interface ServiceAccountRecord {
  accessKey: string;
  name: string;
  secretHash: string;
  description: string;
  disabled: boolean;
  createdBy: string;
  createdAt: number;
}

export interface AuditEvent {
  at: number;
  /** Who acted; `anonymous` when nobody authenticated. */
  actor: string;
  /** login, login.failed, denied, push, delete, member.set, member.remove, user.create, ... */
  action: string;
  /** What it was done to: a repository, project, user or token name. */
  target: string;
  /** The project the target lies in, for project admins' view of the log; null for users, tokens, logins. */
  project: string | null;
  ip: string;
  /** Short non-secret details. */
  detail: string;
}

export interface AuditRecord extends AuditEvent {
  id: number;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  project?: string;
  offset: number;
  limit: number;
}

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  /** JWK JSON of the private key. */
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
}

/** Users as the management API and the CLI change them. */
export interface UserDirectory extends UserStore {
  list(): Promise<UserRecord[]>;
  /** false when the user does not exist. */
  setPassword(name: string, passwordHash: string): Promise<boolean>;
  setDisabled(name: string, disabled: boolean): Promise<boolean>;
  setAdmin(name: string, admin: boolean): Promise<boolean>;
  /** Deletes the user with its tokens and memberships; false when it was not there. */
  delete(name: string): Promise<boolean>;
}

export interface AccessTokenStore {
  create(token: AccessTokenRecord): Promise<void>;
  get(id: string): Promise<AccessTokenRecord | undefined>;
  listByUser(user: string, kind: AccessTokenRecord['kind']): Promise<AccessTokenRecord[]>;
  /** false when the user has no token of that name. */
  revoke(user: string, name: string): Promise<boolean>;
  /** Deletes every token of the kind; the number deleted. */
  revokeAll(user: string, kind: AccessTokenRecord['kind']): Promise<number>;
  deleteById(id: string): Promise<boolean>;
}

export interface MemberStore {
  getRole(project: string, member: string): Promise<ProjectRole | undefined>;
  list(project: string): Promise<MemberRecord[]>;
  /** Adds the member or changes its role. */
  set(member: MemberRecord): Promise<void>;
  remove(project: string, member: string): Promise<boolean>;
}

export interface ServiceAccountStore {
  create(account: ServiceAccountRecord): Promise<void>;
  get(accessKey: string): Promise<ServiceAccountRecord | undefined>;
  getByName(name: string): Promise<ServiceAccountRecord | undefined>;
  list(): Promise<ServiceAccountRecord[]>;
  setDisabled(accessKey: string, disabled: boolean): Promise<boolean>;
  delete(accessKey: string): Promise<boolean>;
}

export interface AuditLog {
  append(event: AuditEvent): Promise<void>;
  /** Several events in one statement (one commit), in order; optional, `append` one by one otherwise. */
  appendMany?(events: AuditEvent[]): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }>;
}

/** Token signing keys, shared by every node through the database. */
export interface SigningKeyStore {
  /** Oldest first. */
  list(): Promise<SigningKeyRecord[]>;
  /** Inserts unless a key with that kid exists. */
  insert(key: SigningKeyRecord): Promise<void>;
}

/**
 * A counter that every write to credentials increments in its own transaction: a password set,
 * a user disabled, enabled, made or unmade admin, or deleted, a token revoked or deleted, a
 * service account disabled, enabled or deleted. Whoever caches verified credentials (every node,
 * see CredentialAuthenticator) compares it to learn that its cache may be stale, whichever node
 * or command made the change.
 */
export interface CredentialChanges {
  version(): Promise<number>;
}

/** Everything authentication and authorization keep in the metadata database. */
export interface AuthStore {
  readonly credentialChanges: CredentialChanges;
  readonly users: UserDirectory;
  readonly tokens: AccessTokenStore;
  readonly members: MemberStore;
  readonly serviceAccounts: ServiceAccountStore;
  readonly audit: AuditLog;
  readonly keys: SigningKeyStore;
}
