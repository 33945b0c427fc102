import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { ociPlugin } from './oci/oci-plugin.ts';
import type { HttpServices } from './services.ts';

/** A short unique id for each request: the trace id of logs and envelopes. */
export function newTraceId(): string {
  return randomBytes(12).toString('hex');
}

/** The HTTP edge: one Fastify instance with the `/v2` scope and the operational endpoints. */
export async function createHttpServer(services: HttpServices, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'traceId' }),
    genReqId: newTraceId,
    // Large pushes take as long as they take; idle sockets and slow headers are cut instead.
    requestTimeout: 0,
    connectionTimeout: 5 * 60_000,
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1000 },
    bodyLimit: 1024 * 1024,
  });
  app.server.headersTimeout = 30_000;

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-trace-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, url: req.url.split('?', 1)[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await services.ready();
      return { status: 'ready' };
    } catch (err) {
      app.log.warn({ err }, 'not ready');
      return reply.code(503).send({ status: 'unavailable' });
    }
  });

  await app.register(ociPlugin, { services });
  return app;
}
