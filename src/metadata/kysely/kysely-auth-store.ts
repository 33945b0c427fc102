import type { Kysely, Selectable } from 'kysely';
import type {
  AccessTokenRecord,
  AccessTokenStore,
  AuditEvent,
  AuditLog,
  AuditQuery,
  AuditRecord,
  AuthStore,
  CredentialChanges,
  MemberRecord,
  MemberStore,
  ProjectRole,
  ServiceAccountRecord,
  ServiceAccountStore,
  SigningKeyRecord,
  SigningKeyStore,
  UserDirectory,
} from '../auth-store.ts';
import type { UserRecord } from '../metadata-store.ts';
import type { AuthTables } from './auth-schema.ts';

/** Rows per multi-row audit insert: 7 parameters each stays far below every driver's limit. */
const AUDIT_ROWS_PER_INSERT = 100;

type Db = Kysely<AuthTables>;

/**
 * Runs a write to credentials and counts it in credential_changes, in one transaction. `write`
 * returns whether it changed anything, or how many rows: nothing changed, nothing counted.
 */
function changingCredentials<T extends boolean | number>(db: Db, write: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    const result = await write(trx);
    if (result === true || (typeof result === 'number' && result > 0)) {
      await trx.updateTable('credential_changes').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', 1).execute();
    }
    return result;
  });
}

class KyselyCredentialChanges implements CredentialChanges {
  constructor(private readonly db: Db) {}

  async version(): Promise<number> {
    const row = await this.db.selectFrom('credential_changes').select('version').where('id', '=', 1).executeTakeFirst();
    return Number(row?.version ?? 0);
  }
}

const toUser = (row: Selectable<AuthTables['users']>): UserRecord => ({
  id: Number(row.id),
  name: row.name,
  passwordHash: row.password_hash,
  admin: Number(row.admin) === 1,
  disabled: Number(row.disabled) === 1,
  createdAt: Number(row.created_at),
});

const toToken = (row: Selectable<AuthTables['access_tokens']>): AccessTokenRecord => ({
  id: row.id,
  user: row.user_name,
  name: row.name,
  kind: row.kind as AccessTokenRecord['kind'],
  secretHash: row.secret_hash,
  createdAt: Number(row.created_at),
  expiresAt: row.expires_at === null ? null : Number(row.expires_at),
});

const toAccount = (row: Selectable<AuthTables['service_accounts']>): ServiceAccountRecord => ({
  accessKey: row.access_key,
  name: row.name,
  secretHash: row.secret_hash,
  description: row.description,
  disabled: Number(row.disabled) === 1,
  createdBy: row.created_by,
  createdAt: Number(row.created_at),
});

class KyselyUserDirectory implements UserDirectory {
  constructor(private readonly db: Db) {}

  async getByName(name: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toUser(row);
  }

  async create(user: Omit<UserRecord, 'id'>): Promise<UserRecord> {
    const row = await this.db
      .insertInto('users')
      .values({ name: user.name, password_hash: user.passwordHash, admin: user.admin ? 1 : 0, disabled: user.disabled ? 1 : 0, created_at: user.createdAt })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toUser(row);
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async list(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  setPassword(name: string, passwordHash: string): Promise<boolean> {
    return this.update(name, { password_hash: passwordHash });
  }

  setDisabled(name: string, disabled: boolean): Promise<boolean> {
    return this.update(name, { disabled: disabled ? 1 : 0 });
  }

  setAdmin(name: string, admin: boolean): Promise<boolean> {
    return this.update(name, { admin: admin ? 1 : 0 });
  }

  private update(name: string, values: { password_hash?: string; disabled?: number; admin?: number }): Promise<boolean> {
    return changingCredentials(
      this.db,
      async (trx) => Number((await trx.updateTable('users').set(values).where('name', '=', name).executeTakeFirst()).numUpdatedRows) > 0,
    );
  }

  async delete(name: string): Promise<boolean> {
    return changingCredentials(
      this.db,
      async (trx) => {
        await trx.deleteFrom('access_tokens').where('user_name', '=', name).execute();
        await trx.deleteFrom('project_members').where('member', '=', name).execute();
        const r = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      },
    );
  }
}

class KyselyAccessTokens implements AccessTokenStore {
  constructor(private readonly db: Db) {}

  async create(t: AccessTokenRecord): Promise<void> {
    await this.db
      .insertInto('access_tokens')
      .values({ id: t.id, user_name: t.user, name: t.name, kind: t.kind, secret_hash: t.secretHash, created_at: t.createdAt, expires_at: t.expiresAt })
      .execute();
  }

  async get(id: string): Promise<AccessTokenRecord | undefined> {
    const row = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toToken(row);
  }

  async listByUser(user: string, kind: AccessTokenRecord['kind']): Promise<AccessTokenRecord[]> {
    const rows = await this.db.selectFrom('access_tokens').selectAll().where('user_name', '=', user).where('kind', '=', kind).orderBy('name').execute();
    return rows.map(toToken);
  }

  revoke(user: string, name: string): Promise<boolean> {
    return changingCredentials(
      this.db,
      async (trx) => Number((await trx.deleteFrom('access_tokens').where('user_name', '=', user).where('kind', '=', 'personal').where('name', '=', name).executeTakeFirst()).numDeletedRows) > 0,
    );
  }

  revokeAll(user: string, kind: AccessTokenRecord['kind']): Promise<number> {
    return changingCredentials(
      this.db,
      async (trx) => Number((await trx.deleteFrom('access_tokens').where('user_name', '=', user).where('kind', '=', kind).executeTakeFirst()).numDeletedRows),
    );
  }

  deleteById(id: string): Promise<boolean> {
    return changingCredentials(
      this.db,
      async (trx) => Number((await trx.deleteFrom('access_tokens').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0,
    );
  }
}

class KyselyMembers implements MemberStore {
  constructor(private readonly db: Db) {}

  async getRole(project: string, member: string): Promise<ProjectRole | undefined> {
    const row = await this.db.selectFrom('project_members').select('role').where('project', '=', project).where('member', '=', member).executeTakeFirst();
    return row?.role as ProjectRole | undefined;
  }

  async list(project: string): Promise<MemberRecord[]> {
    const rows = await this.db.selectFrom('project_members').selectAll().where('project', '=', project).orderBy('member').execute();
    return rows.map((r) => ({ project: r.project, member: r.member, role: r.role as ProjectRole, createdBy: r.created_by, createdAt: Number(r.created_at) }));
  }

  async set(m: MemberRecord): Promise<void> {
    await this.db
      .insertInto('project_members')
      .values({ project: m.project, member: m.member, role: m.role, created_by: m.createdBy, created_at: m.createdAt })
      .onConflict((oc) => oc.columns(['project', 'member']).doUpdateSet({ role: m.role }))
      .execute();
  }

  async remove(project: string, member: string): Promise<boolean> {
    const r = await this.db.deleteFrom('project_members').where('project', '=', project).where('member', '=', member).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

class KyselyServiceAccounts implements ServiceAccountStore {
  constructor(private readonly db: Db) {}

  async create(a: ServiceAccountRecord): Promise<void> {
    await this.db
      .insertInto('service_accounts')
      .values({
        access_key: a.accessKey,
        name: a.name,
        secret_hash: a.secretHash,
        description: a.description,
        disabled: a.disabled ? 1 : 0,
        created_by: a.createdBy,
        created_at: a.createdAt,
      })
      .execute();
  }

  async get(accessKey: string): Promise<ServiceAccountRecord | undefined> {
    const row = await this.db.selectFrom('service_accounts').selectAll().where('access_key', '=', accessKey).executeTakeFirst();
    return row && toAccount(row);
  }

  async getByName(name: string): Promise<ServiceAccountRecord | undefined> {
    const row = await this.db.selectFrom('service_accounts').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toAccount(row);
  }

  async list(): Promise<ServiceAccountRecord[]> {
    return (await this.db.selectFrom('service_accounts').selectAll().orderBy('name').execute()).map(toAccount);
  }

  setDisabled(accessKey: string, disabled: boolean): Promise<boolean> {
    return changingCredentials(
      this.db,
      async (trx) => Number((await trx.updateTable('service_accounts').set({ disabled: disabled ? 1 : 0 }).where('access_key', '=', accessKey).executeTakeFirst()).numUpdatedRows) > 0,
    );
  }

  delete(accessKey: string): Promise<boolean> {
    return changingCredentials(
      this.db,
      async (trx) => {
        const account = await trx.selectFrom('service_accounts').select('name').where('access_key', '=', accessKey).executeTakeFirst();
        if (!account) return false;
        await trx.deleteFrom('project_members').where('member', '=', account.name).execute();
        await trx.deleteFrom('service_accounts').where('access_key', '=', accessKey).execute();
        return true;
      },
    );
  }
}

class KyselyAuditLog implements AuditLog {
  constructor(private readonly db: Db) {}

  async append(e: AuditEvent): Promise<void> {
    await this.db.insertInto('audit_log').values({ at: e.at, actor: e.actor, action: e.action, target: e.target, project: e.project, ip: e.ip, detail: e.detail }).execute();
  }

  async appendMany(events: AuditEvent[]): Promise<void> {
    const rows = events.map((e) => ({ at: e.at, actor: e.actor, action: e.action, target: e.target, project: e.project, ip: e.ip, detail: e.detail }));
    if (rows.length <= AUDIT_ROWS_PER_INSERT) {
      if (rows.length > 0) await this.db.insertInto('audit_log').values(rows).execute();
      return;
    }
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += AUDIT_ROWS_PER_INSERT) {
        await trx.insertInto('audit_log').values(rows.slice(i, i + AUDIT_ROWS_PER_INSERT)).execute();
      }
    });
  }

  async list(q: AuditQuery): Promise<{ items: AuditRecord[]; total: number }> {
    let query = this.db.selectFrom('audit_log');
    if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
    if (q.action !== undefined) query = query.where('action', '=', q.action);
    if (q.project !== undefined) query = query.where('project', '=', q.project);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await query.selectAll().orderBy('id', 'desc').offset(q.offset).limit(q.limit).execute();
    return {
      total: Number(total.n),
      items: rows.map((r) => ({ id: Number(r.id), at: Number(r.at), actor: r.actor, action: r.action, target: r.target, project: r.project, ip: r.ip, detail: r.detail })),
    };
  }
}

class KyselySigningKeys implements SigningKeyStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
    return rows.map((r) => ({ kid: r.kid, alg: r.alg, privateJwk: r.private_jwk, publicJwk: r.public_jwk, createdAt: Number(r.created_at) }));
  }

  async insert(k: SigningKeyRecord): Promise<void> {
    await this.db
      .insertInto('signing_keys')
      .values({ kid: k.kid, alg: k.alg, private_jwk: k.privateJwk, public_jwk: k.publicJwk, created_at: k.createdAt })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();
  }
}

/** The auth tables over Kysely (SQLite or PostgreSQL). */
export class KyselyAuthStore implements AuthStore {
  readonly credentialChanges: CredentialChanges;
  readonly users: UserDirectory;
  readonly tokens: AccessTokenStore;
  readonly members: MemberStore;
  readonly serviceAccounts: ServiceAccountStore;
  readonly audit: AuditLog;
  readonly keys: SigningKeyStore;

  constructor(db: Kysely<any>) {
    const authDb = db as Db;
    this.credentialChanges = new KyselyCredentialChanges(authDb);
    this.users = new KyselyUserDirectory(authDb);
    this.tokens = new KyselyAccessTokens(authDb);
    this.members = new KyselyMembers(authDb);
    this.serviceAccounts = new KyselyServiceAccounts(authDb);
    this.audit = new KyselyAuditLog(authDb);
    this.keys = new KyselySigningKeys(authDb);
  }
}
