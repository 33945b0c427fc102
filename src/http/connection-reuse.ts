import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * Whether `req` announced a body that has not fully arrived yet. False for a request without a
 * body, and for one whose body was all received, read or not.
 */
export function bodyStillArriving(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Every answer sent before its request's body has arrived in full (an upload refused early, a body
 * over a limit, a store failing mid-stream) goes out with `Connection: close`, and Node closes the
 * connection after it. Such a connection cannot carry another request: the rest of the body comes
 * first, and a handler that stopped reading it (or destroyed the request) left the socket paused,
 * so a next request would hang. Draining the rest instead would read whatever a client chooses to
 * send.
 *
 * A connection whose request body was received in full stays open, read or not: Node drops
 * what nobody read and reads the next request (its parser resumes the socket at the end of every
 * message). Register before the routes, so every scope inherits it.
 */
export function closeConnectionsWithBodiesInFlight(app: FastifyInstance): void {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (!bodyStillArriving(req.raw)) {
      done(null, payload);
      return;
    }
    // The parser calls back into JS once per piece of a packet (head, body, end of message) and
    // promises settle in between, so an answer can be ready before the parser has seen the end of
    // a body it already holds. Decide after the packet: a small body sent with its head keeps
    // the connection.
    setImmediate(() => {
      if (bodyStillArriving(req.raw)) reply.header('connection', 'close');
      done(null, payload);
    });
  });
}
