import type { Kysely, Migration } from 'kysely';
import { columnTypes, type Dialect } from './column-types.ts';

/** Access tokens, project members, service accounts, the audit log and token signing keys. */
export function authMigration(dialect: Dialect): Migration {
  const { id, big, text } = columnTypes(dialect);
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('access_tokens')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('user_name', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('secret_hash', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big)
        .execute();
      await db.schema.createIndex('access_tokens_user').on('access_tokens').columns(['user_name', 'kind', 'name']).execute();
      await db.schema
        .createTable('project_members')
        .addColumn('project', text, (c) => c.notNull())
        .addColumn('member', text, (c) => c.notNull())
        .addColumn('role', text, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('project_members_pk', ['project', 'member'])
        .execute();
      await db.schema.createIndex('project_members_member').on('project_members').column('member').execute();
      await db.schema
        .createTable('service_accounts')
        .addColumn('access_key', text, (c) => c.primaryKey())
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('secret_hash', text, (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('actor', text, (c) => c.notNull())
        .addColumn('action', text, (c) => c.notNull())
        .addColumn('target', text, (c) => c.notNull())
        .addColumn('project', text)
        .addColumn('ip', text, (c) => c.notNull())
        .addColumn('detail', text, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'id']).execute();
      await db.schema.createIndex('audit_log_project').on('audit_log').columns(['project', 'id']).execute();
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', text, (c) => c.primaryKey())
        .addColumn('alg', text, (c) => c.notNull())
        .addColumn('private_jwk', text, (c) => c.notNull())
        .addColumn('public_jwk', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
    },
  };
}
