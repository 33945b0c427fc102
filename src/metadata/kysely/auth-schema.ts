import type { Generated } from 'kysely';

/** Row types of the tables of migration 0002 (auth); times are epoch milliseconds, booleans 0/1. */
export interface AuthTables {
  users: {
    id: Generated<number>;
    name: string;
    password_hash: string;
    admin: number;
    disabled: number;
    created_at: number;
  };
  access_tokens: {
    id: string;
    user_name: string;
    name: string;
    kind: string;
    secret_hash: string;
    created_at: number;
    expires_at: number | null;
  };
  project_members: {
    project: string;
    member: string;
    role: string;
    created_by: string;
    created_at: number;
  };
  service_accounts: {
    access_key: string;
    name: string;
    secret_hash: string;
    description: string;
    disabled: number;
    created_by: string;
    created_at: number;
  };
  audit_log: {
    id: Generated<number>;
    at: number;
    actor: string;
    action: string;
    target: string;
    project: string | null;
    ip: string;
    detail: string;
  };
  credential_changes: {
    id: number;
    version: number;
  };
  signing_keys: {
    kid: string;
    alg: string;
    private_jwk: string;
    public_jwk: string;
    created_at: number;
  };
}
