import type { Kysely } from 'kysely';
import type { UserRecord, UserStore } from '../metadata-store.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export class KyselyUsers implements UserStore {
  constructor(private readonly db: Db) {}

  async getByName(name: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && {
      id: Number(row.id),
      name: row.name,
      passwordHash: row.password_hash,
      admin: Boolean(row.admin),
      disabled: Boolean(row.disabled),
      createdAt: Number(row.created_at),
    };
  }

  async create(u: Omit<UserRecord, 'id'>): Promise<UserRecord> {
    const row = await this.db
      .insertInto('users')
      .values({ name: u.name, password_hash: u.passwordHash, admin: u.admin ? 1 : 0, disabled: u.disabled ? 1 : 0, created_at: u.createdAt })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...u, id: Number(row.id) };
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
