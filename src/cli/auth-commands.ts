import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DATABASE_FILE } from '../app.ts';
import { AuditTrail } from '../auth/audit-trail.ts';
import { AuthAdmin } from '../auth/auth-admin.ts';
import { loadConfig } from '../config/config.ts';
import { isRegistryError } from '../domain/errors.ts';
import { openSqliteMetadata } from '../metadata/kysely/sqlite.ts';

interface DataOptions {
  config?: string;
  dataDir?: string;
}

/**
 * Opens the data dir's database (the same SQLite file the server uses; fine while it is stopped,
 * and safe under WAL while it runs, though a running server keeps cached logins up to a minute),
 * runs `fn` with the account use cases, closes it.
 */
async function withAdmin(opts: DataOptions, fn: (admin: AuthAdmin, actor: { name: string }) => Promise<void>): Promise<void> {
  const config = loadConfig({ flags: { dataDir: opts.dataDir }, ...(opts.config ? { file: opts.config } : {}) });
  const metadata = await openSqliteMetadata(join(config.dataDir, DATABASE_FILE));
  try {
    const audit = new AuditTrail(metadata.auth.audit, Date.now, (err) => process.stderr.write(`berth: audit write failed: ${(err as Error).message}\n`));
    const admin = new AuthAdmin({ store: metadata.auth, namespaces: metadata.namespaces, audit, now: Date.now, onCredentialsChanged: () => {} });
    let os = 'operator';
    try {
      os = userInfo().username;
    } catch {
      // no passwd entry: keep the generic name
    }
    await fn(admin, { name: `cli:${os}` });
  } finally {
    await metadata.close();
  }
}

/** A password from stdin (first line) when `--password-stdin`, else undefined. */
async function stdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/, 1)[0] ?? '';
}

function dataOptions(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'JSON config file (env BERTH_CONFIG)').option('-d, --data-dir <dir>', 'data directory (env BERTH_DATA_DIR, default ./data)');
}

/** Runs an action, turning a RegistryError into one line on stderr and exit code 1. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (!isRegistryError(err)) throw err;
      process.stderr.write(`berth: ${err.message}\n`);
      process.exitCode = 1;
    }
  };
}

/** `berth user add|passwd|disable|enable`, `berth token create|revoke`, `berth project add-member`. */
export function registerAuthCommands(program: Command): void {
  const user = program.command('user').description('manage users (works on the data dir; the server may be stopped)');
  dataOptions(user.command('add <name>').description('create a user; the password comes from stdin or is generated and printed once'))
    .option('--admin', 'make the user a system administrator')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(action(async (name: string, opts: DataOptions & { admin?: boolean; passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await stdinLine() : randomBytes(18).toString('base64url');
      await withAdmin(opts, async (admin, actor) => {
        await admin.createUser(actor, { name, password, admin: opts.admin === true });
      });
      process.stdout.write(opts.passwordStdin ? `user ${name} created\n` : `user ${name} created; password (shown once): ${password}\n`);
    }));
  dataOptions(user.command('passwd <name>').description('set a new password (stdin with --password-stdin, or generated and printed once)'))
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(action(async (name: string, opts: DataOptions & { passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await stdinLine() : randomBytes(18).toString('base64url');
      await withAdmin(opts, (admin, actor) => admin.changePassword(actor, name, password));
      process.stdout.write(opts.passwordStdin ? `password of ${name} changed\n` : `password of ${name} changed; new password (shown once): ${password}\n`);
    }));
  dataOptions(user.command('disable <name>').description('disable a user: no logins, tokens stop working'))
    .action(action(async (name: string, opts: DataOptions) => {
      await withAdmin(opts, (admin, actor) => admin.setDisabled(actor, name, true));
      process.stdout.write(`user ${name} disabled\n`);
    }));
  dataOptions(user.command('enable <name>').description('enable a disabled user'))
    .action(action(async (name: string, opts: DataOptions) => {
      await withAdmin(opts, (admin, actor) => admin.setDisabled(actor, name, false));
      process.stdout.write(`user ${name} enabled\n`);
    }));

  const token = program.command('token').description('manage personal access tokens');
  dataOptions(token.command('create <user> <name>').description('create an access token (printed once; usable wherever a password is)'))
    .option('--expires-in-days <days>', 'expire after this many days (default: never)')
    .action(action(async (userName: string, name: string, opts: DataOptions & { expiresInDays?: string }) => {
      let expiresAt: number | null = null;
      if (opts.expiresInDays !== undefined) {
        const days = Number(opts.expiresInDays);
        if (!Number.isFinite(days) || days <= 0) throw new Error('--expires-in-days must be a positive number');
        expiresAt = Date.now() + Math.round(days * 86_400_000);
      }
      let secret = '';
      await withAdmin(opts, async (admin, actor) => {
        secret = (await admin.createToken(actor, userName, name, expiresAt)).id;
      });
      process.stdout.write(`${secret}\n`);
    }));
  dataOptions(token.command('revoke <user> <name>').description('revoke an access token'))
    .action(action(async (userName: string, name: string, opts: DataOptions) => {
      await withAdmin(opts, (admin, actor) => admin.revokeToken(actor, userName, name));
      process.stdout.write(`token ${name} of ${userName} revoked\n`);
    }));

  const project = program.command('project').description('manage project members');
  dataOptions(project.command('add-member <project> <user> <role>').description('add a member (or change its role): admin, developer or guest'))
    .action(action(async (projectId: string, userName: string, role: string, opts: DataOptions) => {
      await withAdmin(opts, (admin, actor) => admin.setMember(actor, projectId, userName, role));
      process.stdout.write(`${userName} is now ${role} of project ${projectId}\n`);
    }));
}
