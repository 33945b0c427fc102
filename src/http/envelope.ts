import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isRegistryError, RegistryError, unexpectedError } from '../domain/errors.ts';

/** The management APIs' answer: `{code, message, data, traceId}` (PRODUCT.md). */
export interface Envelope<T> {
  code: number;
  message: string | null;
  data: T;
  traceId: string;
}

/** Sends `data` in a success envelope. */
export function ok<T>(req: FastifyRequest, reply: FastifyReply, data: T, status = 200): FastifyReply {
  const body: Envelope<T> = { code: 0, message: null, data, traceId: req.id };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Maps anything thrown in a management route to the error envelope with the true HTTP status. */
export function envelopeError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  let error: RegistryError;
  if (isRegistryError(err)) error = err;
  else if ((err as FastifyError)?.validation) error = new RegistryError('PARAMETER_INVALID', (err as FastifyError).message);
  else if (typeof (err as FastifyError)?.statusCode === 'number' && (err as FastifyError).statusCode! < 500) {
    const status = (err as FastifyError).statusCode!;
    error = new RegistryError(status === 404 ? 'NOT_FOUND' : 'PARAMETER_INVALID', (err as FastifyError).message.slice(0, 300), undefined, { status });
  } else error = unexpectedError(err);
  if (error.status >= 500) req.log.error({ err: error.cause ?? err }, 'request failed');
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  const body: Envelope<null> = { code: error.extCode, message: error.message, data: null, traceId: req.id };
  return reply.code(error.status).type('application/json; charset=utf-8').send(body);
}

/** Installs the envelope error handler on a management scope (unknown paths: see `notFound`). */
export function useEnvelope(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => envelopeError(err, req, reply));
}

/** The answer for a path no route matches, in the envelope. */
export function notFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return envelopeError(new RegistryError('NOT_FOUND', `no endpoint ${req.method} ${req.url.split('?', 1)[0]!.slice(0, 200)}`), req, reply);
}
