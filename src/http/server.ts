import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import swagger from '@fastify/swagger';
import { CompleteRequest } from './complete-request.ts';
import { closeConnectionsWithBodiesInFlight } from './connection-reuse.ts';
import { sweepIdleConnectionsSafely } from './idle-sweep.ts';
import { accessLog } from './access-log.ts';
import { LazyRequestLogger } from './lazy-request-logger.ts';
import { RegistryError } from '../domain/errors.ts';
import { envelopeError, notFound, useEnvelope } from './envelope.ts';
import { continueWhenBodyIsRead } from './expect-continue.ts';
import { boundJsonBodies } from './json-body.ts';
import { answerOciError } from './oci/oci-errors.ts';
import { registerMetrics } from './metrics.ts';
import { extPlugin } from './ext/ext-plugin.ts';
import { ociPlugin } from './oci/oci-plugin.ts';
import { repositoryPlugin } from './repository/repository-plugin.ts';
import type { HttpServices } from './services.ts';
import { tokenPlugin } from './token/token-plugin.ts';
import { adminPlugin } from './admin/admin-plugin.ts';
import { permissionPlugin } from './repository/permission-plugin.ts';
import { webPlugin } from './web/web-plugin.ts';

/** A short unique id for each request: the trace id of logs and envelopes. */
export function newTraceId(): string {
  // A random per-process prefix and a 48-bit counter: unique across requests and nodes, and far
  // cheaper than drawing random bytes on every request (it showed up at 4% of CPU on small
  // requests). The counter is kept as two 24-bit halves: V8 writes a small integer in hex
  // directly, one past 2^31 through its floating-point path (about 1,600 instructions a request).
  if (++traceLow === TRACE_HALF_SPAN) {
    traceLow = 0;
    if (++traceHigh === TRACE_HALF_SPAN) {
      traceHigh = 0;
      tracePrefix = randomBytes(6).toString('hex');
    }
  }
  return `${tracePrefix}${traceHigh.toString(16).padStart(6, '0')}${traceLow.toString(16).padStart(6, '0')}`;
}

const TRACE_HALF_SPAN = 2 ** 24;
let tracePrefix = randomBytes(6).toString('hex');
let traceHigh = Math.floor(Math.random() * TRACE_HALF_SPAN);
let traceLow = Math.floor(Math.random() * TRACE_HALF_SPAN);

/**
 * A URL Fastify's router cannot take (bad percent-encoding, an over-long parameter), answered in
 * the error format of the API it was meant for rather than Fastify's own JSON.
 */
function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  if (underV2(req.url)) answerOciError(req, reply, err);
  else envelopeError(err, req, reply);
}

const underV2 = (url: string): boolean => url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?');

/**
 * A request no route takes. Under /v2 every method the /v2 scope serves has a route, so what
 * reaches here is a method it does not (PROPFIND, say): 405 in the /v2 error format.
 */
function answerNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (!underV2(req.url)) return notFound(req, reply);
  return answerOciError(req, reply, new RegistryError('UNSUPPORTED', `${req.method.slice(0, 20)} is not supported on this endpoint`, undefined, { status: 405 }));
}

/**
 * The origin form (`/path?query`) of a request target sent in absolute form
 * (`http://host/path?query`), which RFC 9112 says a server must accept; any other target as sent.
 */
export function originForm(req: { url?: string }): string {
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  const absolute = /^https?:\/\/[^/?#]*/i.exec(url);
  if (!absolute) return url;
  const rest = url.slice(absolute[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The HTTP edge: one Fastify instance with the `/v2` scope and the operational endpoints. */
export async function createHttpServer(services: HttpServices, logger: Logger): Promise<FastifyInstance> {
  const headersTimeout = services.options.headersTimeoutMs ?? 30_000;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'traceId' }),
    genReqId: newTraceId,
    childLoggerFactory: LazyRequestLogger.factory,
    frameworkErrors: answerFrameworkError,
    rewriteUrl: originForm,
    // Large pushes take as long as they take; idle sockets and slow headers are cut instead.
    requestTimeout: 0,
    // Idle sockets, also mid-body: a client that stalls (a body shorter than its Content-Length)
    // is cut, which fails the handler's stream and releases the upload's lock.
    connectionTimeout: services.options.idleTimeoutMs ?? 5 * 60_000,
    // Node checks the headers deadline only every connectionsCheckingInterval (30 s by default).
    http: { headersTimeout, connectionsCheckingInterval: Math.max(250, Math.min(5_000, headersTimeout / 4)), IncomingMessage: CompleteRequest },
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1000 },
    bodyLimit: 1024 * 1024,
  });

  sweepIdleConnectionsSafely(app.server);
  continueWhenBodyIsRead(app.server);
  // Hooks on every request take a callback: an async hook costs a promise and a microtask more.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-trace-id', req.id);
    done();
  });
  closeConnectionsWithBodiesInFlight(app);
  if (services.metrics) registerMetrics(app, services.metrics);
  // The access line goes through the server's logger, with the trace id a request's logger would
  // add: the request's own logger then is never made for a request that logs nothing else.
  const access = accessLog(logger);
  app.addHook('onResponse', (req, reply, done) => {
    const url = req.url;
    const query = url.indexOf('?');
    access(req.id, req.method, query === -1 ? url : url.slice(0, query), reply.statusCode, Math.round(reply.elapsedTime));
    done();
  });

  // Errors Fastify raises in the root scope (a Content-Type it refuses or a JSON body it cannot
  // parse, also on a path no route matches, before the not-found handler runs) and those of the
  // operational endpoints answer in the envelope; /v2 and the token service set their own.
  useEnvelope(app);
  boundJsonBodies(app);
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

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Berth management API', version: '1', description: 'The Docker extension API (/docker/api) and the management API, in the {code,message,data,traceId} envelope.' },
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic' },
          bearer: { type: 'http', scheme: 'bearer' },
          platform: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Platform base64(AK:SK) with X-BKREPO-UID' },
        },
      },
      security: [{ basic: [] }, { bearer: [] }, { platform: [] }],
    },
    // The /v2 protocol is the OCI spec's, not this document's.
    hideUntagged: false,
    transform: ({ schema, url }) => ({ schema: url.startsWith('/v2') || url.startsWith('/healthz') || url.startsWith('/readyz') ? { ...schema, hide: true } : schema, url }),
  });
  app.get('/docker/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(tokenPlugin, { services });
  await app.register(adminPlugin, { services });
  app.setNotFoundHandler(answerNotFound);
  await app.register(ociPlugin, { services });
  await app.register(extPlugin, { services, images: services.images });
  await app.register(repositoryPlugin, { services, admin: services.projectAdmin });
  await app.register(permissionPlugin, { services });
  await app.register(webPlugin);
  return app;
}
