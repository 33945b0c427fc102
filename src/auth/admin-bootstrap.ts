import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { UserStore } from '../metadata/metadata-store.ts';
import { hashPassword } from './passwords.ts';

export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD_FILE = 'admin-password';

export interface BootstrapResult {
  /** Set when a password was generated: print it once. */
  generatedPassword?: string;
  passwordFile?: string;
}

/**
 * Creates the first admin when the user table is empty: with `password` when given, otherwise a
 * generated one written to a 0600 file in the data dir. Does nothing on later starts.
 */
export async function bootstrapAdmin(users: UserStore, dataDir: string, password: string | undefined, now: number): Promise<BootstrapResult> {
  if ((await users.count()) > 0) return {};
  const secret = password ?? randomBytes(18).toString('base64url');
  try {
    await users.create({ name: ADMIN_USER, passwordHash: await hashPassword(secret), admin: true, disabled: false, createdAt: now });
  } catch (err) {
    // Another node of a scale-out deployment, starting at the same moment, created it first.
    if (await users.getByName(ADMIN_USER)) return {};
    throw err;
  }
  if (password !== undefined) return {};
  const passwordFile = join(dataDir, ADMIN_PASSWORD_FILE);
  await writeFile(passwordFile, `${secret}\n`, { mode: 0o600 });
  return { generatedPassword: secret, passwordFile };
}
