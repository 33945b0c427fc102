import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isRegistryError, RegistryError, unexpectedError } from '../../domain/errors.ts';

/**
 * Normalises anything thrown into a RegistryError: Fastify's own 4xx errors (a request it refused
 * before the handler) keep their status; anything else is unexpectedError's 507 or 500.
 */
export function toRegistryError(err: unknown): RegistryError {
  if (isRegistryError(err)) return err;
  const status = (err as FastifyError | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new RegistryError(status === 415 ? 'UNSUPPORTED' : 'PARAMETER_INVALID', (err as Error).message.slice(0, 300), undefined, { status });
  }
  return unexpectedError(err);
}

/**
 * Writes the `/v2` error body `{"errors":[{code,message,detail}]}`. HEAD answers carry none, and
 * neither does a 416: the spec answers a refused range or chunk with headers only (`Range`,
 * `Content-Range`) and `Content-Length: 0`.
 */
export function sendOciError(reply: FastifyReply, err: RegistryError, head: boolean): FastifyReply {
  reply.code(err.status);
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  if (head || err.status === 416) {
    reply.header('content-length', '0');
    return reply.send();
  }
  const body = { errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }] };
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
}

/** The errors a request body fails with when its connection closes before the body's end. */
const CUT_SHORT = new Set(['ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Whether `err` is the client having gone away mid-request: an error of a body cut short, on a
 * request that was indeed aborted. Nothing the server did wrong, and nobody to answer. (A store
 * failing mid-body also ends the request early, but with its own error: still a 500.)
 */
export function clientGone(req: FastifyRequest, err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return !isRegistryError(err) && code !== undefined && CUT_SHORT.has(code) && (req.raw.aborted || req.raw.socket?.destroyed === true);
}

/**
 * Answers `err` in the /v2 error format (also the token endpoint's), logging it when it is a 5xx.
 * A failure because the client went away is logged at info and recorded as a 400, not as a server error.
 */
export function answerOciError(req: FastifyRequest, reply: FastifyReply, err: unknown, logMessage = 'request failed'): FastifyReply {
  if (clientGone(req, err)) {
    req.log.info({ err: { message: (err as Error)?.message, code: (err as NodeJS.ErrnoException)?.code } }, 'client went away before the answer');
    return sendOciError(reply, new RegistryError('PARAMETER_INVALID', 'the request was cut short by the client', undefined, { status: 400 }), req.method === 'HEAD');
  }
  const error = toRegistryError(err);
  if (error.status >= 500) req.log.error({ err: error.cause ?? err }, logMessage);
  return sendOciError(reply, error, req.method === 'HEAD');
}
