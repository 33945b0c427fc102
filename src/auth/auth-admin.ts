import { RegistryError } from '../domain/errors.ts';
import { isSegmentName } from '../domain/names.ts';
import { type AuditQuery, type AuditRecord, type AuthStore, PROJECT_ROLES, type ProjectRole } from '../metadata/auth-store.ts';
import type { NamespaceStore } from '../metadata/metadata-store.ts';
import type { AuditTrail } from './audit-trail.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { generateAccessKeyPair, generateToken } from './secrets.ts';

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 8;

/** Who asks for a change, for the audit log. */
export interface Actor {
  name: string;
  ip?: string;
}

export interface UserView {
  userId: string;
  admin: boolean;
  locked: boolean;
  createdDate: number;
}

export interface TokenView {
  name: string;
  createdAt: number;
  expiredAt: number | null;
}

export interface NewTokenView extends TokenView {
  /** The token itself: returned once, never stored. */
  id: string;
}

export interface ServiceAccountView {
  appId: string;
  accessKey: string;
  description: string;
  locked: boolean;
  createdBy: string;
  createdDate: number;
}

/**
 * The account use cases behind both the management API and the CLI: users, access tokens,
 * project members, service accounts. Permission checks belong to the callers (the HTTP edge asks
 * the Authorizer; the CLI is the operator); every change is audited and every credential change
 * calls `onCredentialsChanged` so cached verifications are dropped.
 */
export class AuthAdmin {
  constructor(
    private readonly deps: {
      store: AuthStore;
      namespaces: Pick<NamespaceStore, 'getProject'>;
      audit: AuditTrail;
      now: () => number;
      onCredentialsChanged: (owner: string) => void;
    },
  ) {}

  private get store(): AuthStore {
    return this.deps.store;
  }

  private async audit(actor: Actor, action: string, target: string, detail = '', project: string | null = null): Promise<void> {
    await this.deps.audit.record({ actor: actor.name, action, target, detail, project, ...(actor.ip !== undefined ? { ip: actor.ip } : {}) });
  }

  async listUsers(): Promise<UserView[]> {
    return (await this.store.users.list()).map((u) => ({ userId: u.name, admin: u.admin, locked: u.disabled, createdDate: u.createdAt }));
  }

  async getUser(name: string): Promise<UserView> {
    const u = await this.store.users.getByName(name);
    if (!u) throw new RegistryError('NOT_FOUND', `user ${name} does not exist`);
    return { userId: u.name, admin: u.admin, locked: u.disabled, createdDate: u.createdAt };
  }

  async createUser(actor: Actor, input: { name: string; password: string; admin?: boolean }): Promise<UserView> {
    if (!USER_NAME.test(input.name)) throw new RegistryError('PARAMETER_INVALID', 'user name must be 1 to 64 characters of letters, digits, . _ @ -, starting with a letter or digit');
    checkPassword(input.password);
    if ((await this.store.users.getByName(input.name)) || (await this.store.serviceAccounts.getByName(input.name))) {
      throw new RegistryError('CONFLICT', `user ${input.name} already exists`);
    }
    const user = await this.store.users.create({
      name: input.name,
      passwordHash: await hashPassword(input.password),
      admin: input.admin === true,
      disabled: false,
      createdAt: this.deps.now(),
    });
    await this.audit(actor, 'user.create', user.name, user.admin ? 'admin' : '');
    return { userId: user.name, admin: user.admin, locked: false, createdDate: user.createdAt };
  }

  /** Whether `password` is the user's current password. */
  async passwordMatches(name: string, password: string): Promise<boolean> {
    const user = await this.store.users.getByName(name);
    return user !== undefined && (await verifyPassword(user.passwordHash, password));
  }

  /** Newest first. */
  readAudit(query: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    return this.store.audit.list(query);
  }

  /** Sets a new password; the user's refresh tokens are revoked (personal access tokens stay). */
  async changePassword(actor: Actor, name: string, password: string): Promise<void> {
    checkPassword(password);
    if (!(await this.store.users.setPassword(name, await hashPassword(password)))) throw new RegistryError('NOT_FOUND', `user ${name} does not exist`);
    await this.store.tokens.revokeAll(name, 'refresh');
    this.deps.onCredentialsChanged(name);
    await this.audit(actor, 'user.password', name);
  }

  async setDisabled(actor: Actor, name: string, disabled: boolean): Promise<void> {
    if (disabled && actor.name === name) throw new RegistryError('PARAMETER_INVALID', 'you cannot disable yourself');
    if (!(await this.store.users.setDisabled(name, disabled))) throw new RegistryError('NOT_FOUND', `user ${name} does not exist`);
    this.deps.onCredentialsChanged(name);
    await this.audit(actor, disabled ? 'user.disable' : 'user.enable', name);
  }

  async setAdmin(actor: Actor, name: string, admin: boolean): Promise<void> {
    if (!admin && actor.name === name) throw new RegistryError('PARAMETER_INVALID', 'you cannot remove your own admin rights');
    if (!(await this.store.users.setAdmin(name, admin))) throw new RegistryError('NOT_FOUND', `user ${name} does not exist`);
    this.deps.onCredentialsChanged(name);
    await this.audit(actor, 'user.admin', name, admin ? 'granted' : 'revoked');
  }

  async deleteUser(actor: Actor, name: string): Promise<void> {
    if (actor.name === name) throw new RegistryError('PARAMETER_INVALID', 'you cannot delete yourself');
    if (!(await this.store.users.delete(name))) throw new RegistryError('NOT_FOUND', `user ${name} does not exist`);
    this.deps.onCredentialsChanged(name);
    await this.audit(actor, 'user.delete', name);
  }

  /** A new personal access token for `user`; `expiresAt` null for none. The token is in the answer only. */
  async createToken(actor: Actor, user: string, name: string, expiresAt: number | null): Promise<NewTokenView> {
    if (!TOKEN_NAME.test(name)) throw new RegistryError('PARAMETER_INVALID', 'token name must be 1 to 64 characters of letters, digits, space . _ -');
    const now = this.deps.now();
    if (expiresAt !== null && (!Number.isSafeInteger(expiresAt) || expiresAt <= now)) throw new RegistryError('PARAMETER_INVALID', 'expiry must lie in the future');
    if (!(await this.store.users.getByName(user))) throw new RegistryError('NOT_FOUND', `user ${user} does not exist`);
    if ((await this.store.tokens.listByUser(user, 'personal')).some((t) => t.name === name)) {
      throw new RegistryError('CONFLICT', `user ${user} already has a token named ${name}`);
    }
    const generated = generateToken('personal');
    await this.store.tokens.create({ id: generated.id, user, name, kind: 'personal', secretHash: generated.secretHash, createdAt: now, expiresAt });
    await this.audit(actor, 'token.create', user, `token ${name}`);
    return { id: generated.token, name, createdAt: now, expiredAt: expiresAt };
  }

  async listTokens(user: string): Promise<TokenView[]> {
    if (!(await this.store.users.getByName(user))) throw new RegistryError('NOT_FOUND', `user ${user} does not exist`);
    return (await this.store.tokens.listByUser(user, 'personal')).map((t) => ({ name: t.name, createdAt: t.createdAt, expiredAt: t.expiresAt }));
  }

  async revokeToken(actor: Actor, user: string, name: string): Promise<void> {
    if (!(await this.store.tokens.revoke(user, name))) throw new RegistryError('NOT_FOUND', `user ${user} has no token named ${name}`);
    this.deps.onCredentialsChanged(user);
    await this.audit(actor, 'token.revoke', user, `token ${name}`);
  }

  /** A refresh token (docker login's identity token) for `user`, valid for `ttlMs`. */
  async createRefreshToken(user: string, clientId: string, ttlMs: number): Promise<string> {
    const generated = generateToken('refresh');
    const now = this.deps.now();
    await this.store.tokens.create({
      id: generated.id,
      user,
      name: `${clientId.slice(0, 40) || 'client'} ${generated.id}`,
      kind: 'refresh',
      secretHash: generated.secretHash,
      createdAt: now,
      expiresAt: now + ttlMs,
    });
    return generated.token;
  }

  async listMembers(project: string): Promise<{ userId: string; role: ProjectRole; createdBy: string; createdDate: number }[]> {
    await this.requireProject(project);
    return (await this.store.members.list(project)).map((m) => ({ userId: m.member, role: m.role, createdBy: m.createdBy, createdDate: m.createdAt }));
  }

  async setMember(actor: Actor, project: string, member: string, role: string): Promise<void> {
    if (!PROJECT_ROLES.includes(role as ProjectRole)) throw new RegistryError('PARAMETER_INVALID', `role must be one of ${PROJECT_ROLES.join(', ')}`);
    await this.requireProject(project);
    if (!(await this.store.users.getByName(member)) && !(await this.store.serviceAccounts.getByName(member))) {
      throw new RegistryError('NOT_FOUND', `user ${member} does not exist`);
    }
    await this.store.members.set({ project, member, role: role as ProjectRole, createdBy: actor.name, createdAt: this.deps.now() });
    await this.audit(actor, 'member.set', project, `${member} as ${role}`, project);
  }

  async removeMember(actor: Actor, project: string, member: string): Promise<void> {
    if (!(await this.store.members.remove(project, member))) throw new RegistryError('NOT_FOUND', `${member} is not a member of project ${project}`);
    await this.audit(actor, 'member.remove', project, member, project);
  }

  async createServiceAccount(actor: Actor, name: string, description: string): Promise<ServiceAccountView & { secretKey: string }> {
    if (!USER_NAME.test(name)) throw new RegistryError('PARAMETER_INVALID', 'service account name must be 1 to 64 characters of letters, digits, . _ @ -');
    if ((await this.store.users.getByName(name)) || (await this.store.serviceAccounts.getByName(name))) {
      throw new RegistryError('CONFLICT', `a user or service account named ${name} already exists`);
    }
    const keys = generateAccessKeyPair();
    const now = this.deps.now();
    await this.store.serviceAccounts.create({ accessKey: keys.accessKey, name, secretHash: keys.secretHash, description: description.slice(0, 500), disabled: false, createdBy: actor.name, createdAt: now });
    await this.audit(actor, 'account.create', name);
    return { appId: name, accessKey: keys.accessKey, secretKey: keys.secretKey, description, locked: false, createdBy: actor.name, createdDate: now };
  }

  async listServiceAccounts(): Promise<ServiceAccountView[]> {
    return (await this.store.serviceAccounts.list()).map((a) => ({
      appId: a.name,
      accessKey: a.accessKey,
      description: a.description,
      locked: a.disabled,
      createdBy: a.createdBy,
      createdDate: a.createdAt,
    }));
  }

  async deleteServiceAccount(actor: Actor, name: string): Promise<void> {
    const account = await this.store.serviceAccounts.getByName(name);
    if (!account || !(await this.store.serviceAccounts.delete(account.accessKey))) throw new RegistryError('NOT_FOUND', `service account ${name} does not exist`);
    this.deps.onCredentialsChanged(name);
    await this.audit(actor, 'account.delete', name);
  }

  private async requireProject(project: string): Promise<void> {
    if (!isSegmentName(project) || !(await this.deps.namespaces.getProject(project))) throw new RegistryError('NOT_FOUND', `project ${project} does not exist`);
  }
}

function checkPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH || password.length > 1024) {
    throw new RegistryError('PARAMETER_INVALID', `password must be ${MIN_PASSWORD_LENGTH} to 1024 characters`);
  }
}
