import { Command } from 'commander';
import { ConfigError } from '../config/config.ts';
import { registerGcCommands } from './gc-commands.ts';
import { registerAuthCommands } from './auth-commands.ts';
import { serve } from './serve.ts';

export function buildProgram(): Command {
  const program = new Command('berth').description('Berth container image registry').showHelpAfterError();
  program
    .command('serve', { isDefault: true })
    .description('run the registry server')
    .option('-c, --config <file>', 'JSON config file (env BERTH_CONFIG)')
    .option('-l, --listen <host:port>', 'address to listen on (env BERTH_LISTEN, default 127.0.0.1:5000)')
    .option('-d, --data-dir <dir>', 'data directory (env BERTH_DATA_DIR, default ./data)')
    .option('--admin-password <password>', 'password of the first admin, first start only (env BERTH_ADMIN_PASSWORD)')
    .option('--base-url <url>', 'externally visible URL (env BERTH_BASE_URL)')
    .option('--no-auto-create', 'do not create projects and repos on push (env BERTH_AUTO_CREATE=false)')
    .option('--database-url <url>', 'PostgreSQL metadata database, postgres://... (env BERTH_DATABASE_URL; SQLite in the data dir when unset)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env BERTH_LOG_LEVEL)')
    .action(async (opts: Record<string, unknown>) => {
      await serve({
        config: opts.config as string | undefined,
        listen: opts.listen as string | undefined,
        dataDir: opts.dataDir as string | undefined,
        adminPassword: opts.adminPassword as string | undefined,
        baseUrl: opts.baseUrl as string | undefined,
        autoCreate: opts.autoCreate === false ? false : undefined,
        logLevel: opts.logLevel as string | undefined,
        databaseUrl: opts.databaseUrl as string | undefined,
      });
    });
  registerAuthCommands(program);
  registerGcCommands(program);
  return program;
}

/**
 * The one line printed for a configuration or start-up problem. Multi-line messages (a native
 * module's search paths, for example) are folded into that line rather than cut, so nothing is lost.
 */
export function formatStartError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const oneLine = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
  return `berth: ${err instanceof ConfigError ? oneLine : `cannot start: ${oneLine}`}`;
}

/** Runs the CLI; a configuration or start-up problem is one clear line and exit code 1. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`${formatStartError(err)}\n`);
    process.exit(1);
  }
}
