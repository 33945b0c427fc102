import pino from 'pino';
import { buildApp } from '../app.ts';
import { type ConfigInput, loadConfig, parseListen } from '../config/config.ts';
import { ADMIN_PASSWORD_FILE } from '../auth/admin-bootstrap.ts';
import { addAcceptDescriptors } from '../http/accept-descriptors.ts';
import { compactHeap, limitHeapGrowth, shrinkYoungGenerationWhenQuiet, sweepArrayBuffersInPause } from '../runtime/heap.ts';
import { stdoutLogDestination } from '../runtime/log-destination.ts';

export interface ServeFlags extends ConfigInput {
  config?: string;
}

/**
 * Descriptors of the listening socket beside the server's own (see accept-descriptors.ts): 64
 * clients connecting at once are accepted in 4 turns of the event loop instead of 64. A new
 * connection then also costs up to 15 accept calls that find nothing: a load opening a
 * connection per request ran no slower (README, Performance).
 */
const EXTRA_ACCEPT_DESCRIPTORS = 15;

/** Log lines not yet written beyond this are dropped (a stdout nobody reads must not grow the heap). */
const LOG_BUFFER_MAX = 16 * 1024 * 1024;

/**
 * stdout, written asynchronously: a request's log line is queued and written with the lines
 * queued meanwhile, instead of a write syscall per line on the event loop (and a busy wait
 * when a pipe is full, which stalled every request for up to a second under load). What is
 * queued is flushed when the process exits, for at most a second when stdout is full; a
 * stdout whose reader has gone away stops logging instead of keeping the process alive.
 */
function logDestination(): pino.DestinationStream {
  return stdoutLogDestination({ maxLength: LOG_BUFFER_MAX });
}

/** Starts the server and stops it gracefully on SIGTERM/SIGINT. Resolves once it listens. */
export async function serve(flags: ServeFlags): Promise<void> {
  const { config: file, ...settings } = flags;
  limitHeapGrowth();
  sweepArrayBuffersInPause();
  const config = loadConfig({ flags: settings, ...(file ? { file } : {}) });
  const logger = pino({ level: config.logLevel }, logDestination());
  const app = await buildApp(config, logger);
  if (app.generatedAdminPassword) {
    // Printed once, on the console only, so the operator can log in; also in a 0600 file.
    process.stderr.write(`berth: generated password for user "admin": ${app.generatedAdminPassword} (also in ${config.dataDir}/${ADMIN_PASSWORD_FILE})\n`);
  }
  const { host, port } = parseListen(config.listen);
  const address = await app.http.listen({ host, port });
  const acceptDescriptors = await addAcceptDescriptors(app.http.server, EXTRA_ACCEPT_DESCRIPTORS, (message) => logger.warn(message));
  // Start-up (module loading, route and schema compilation) leaves the old generation sparse;
  // V8's memory reducer would compact it only after about 16 s without load, if ever.
  compactHeap();
  shrinkYoungGenerationWhenQuiet();
  logger.info({ address, dataDir: config.dataDir }, `berth listening on ${address}, data in ${config.dataDir}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // Ctrl-C under `npm start` reaches the server twice (from the terminal and forwarded by npm);
      // a repeated signal must not cut the graceful shutdown short. The 30 s bound still holds.
      logger.info({ signal }, 'already shutting down: still finishing in-flight requests');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 30 s; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    acceptDescriptors.close();
    app.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
