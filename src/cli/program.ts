import { Command } from 'commander';
import { type Config, ConfigError, ConfigSchema, ENV_NAMES } from '../config/config.ts';
import { registerGcCommands } from './gc-commands.ts';
import { registerAuthCommands } from './auth-commands.ts';
import { serve, type ServeFlags } from './serve.ts';

export function buildProgram(): Command {
  const program = new Command('berth').description('Berth container image registry').showHelpAfterError();
  const serveCommand = program
    .command('serve', { isDefault: true })
    .description('run the registry server')
    .option('-c, --config <file>', 'JSON config file with the same keys in camelCase (env BERTH_CONFIG)');
  addConfigOptions(serveCommand);
  serveCommand.action(async (opts: Record<string, unknown>) => {
    const flags: ServeFlags = { config: opts.config as string | undefined };
    for (const key of Object.keys(ENV_NAMES) as (keyof Config)[]) {
      const value = opts[key];
      if (key === 'autoCreate') flags.autoCreate = value === false ? false : undefined;
      else if (typeof value === 'string') flags[key] = value;
    }
    await serve(flags);
  });
  registerAuthCommands(program);
  registerGcCommands(program);
  return program;
}

const SHORT_FLAGS: Partial<Record<keyof Config, string>> = { listen: '-l', dataDir: '-d' };

/** `dataDir` -> `data-dir`; commander maps it back to the same camelCase key. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Every configuration setting as a flag, described from the schema, so flags, env and file never drift apart. */
function addConfigOptions(command: Command): void {
  for (const [key, schema] of Object.entries(ConfigSchema.properties) as [keyof Config, { description?: string; default?: unknown; type?: string }][]) {
    const fallback = schema.default !== undefined ? `, default ${String(schema.default)}` : '';
    const help = `${schema.description ?? key} (env ${ENV_NAMES[key]}${fallback})`;
    if (key === 'autoCreate') command.option('--no-auto-create', `do not create projects and repos on push (env ${ENV_NAMES[key]}=false)`);
    else command.option(`${SHORT_FLAGS[key] ? `${SHORT_FLAGS[key]}, ` : ''}--${kebab(key)} <${schema.type === 'boolean' ? 'true|false' : 'value'}>`, help);
  }
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
