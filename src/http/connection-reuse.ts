import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** How long a connection closed while its request body was still arriving keeps reading it, at most. */
export const LINGER_MS = 2000;
/** How many more body bytes such a connection reads (and drops) before it closes (checked every LINGER_CHECK_MS). */
export const LINGER_BYTES = 64 * 1024 * 1024;
const LINGER_CHECK_MS = 20;

/** Whether `req` announces a body (a Content-Length other than 0, or a Transfer-Encoding), arrived or not. */
export function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * Whether `req` announced a body that has not fully arrived yet. False for a request without a
 * body, and for one whose body was all received, read or not.
 */
export function bodyStillArriving(req: IncomingMessage): boolean {
  return !req.complete && announcesBody(req);
}

/**
 * Every answer sent before its request's body has arrived in full (an upload refused early, a body
 * over a limit, a store failing mid-stream) goes out with `Connection: close`, and Node closes the
 * connection after it. Such a connection cannot carry another request: the rest of the body comes
 * first, and a handler that stopped reading it (or destroyed the request) left the socket paused,
 * so a next request would hang. Draining the rest to reuse the connection would read whatever a
 * client chooses to send; the connection only lingers, bounded, so the answer is not lost (see
 * lingerAfterAnswer).
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
      if (bodyStillArriving(req.raw)) {
        reply.header('connection', 'close');
        lingerAfterAnswer(req.raw);
      }
      done(null, payload);
    });
  });
}

/**
 * Node ends a `Connection: close` answer with socket.destroySoon(): the answer, FIN, and the
 * socket closed as soon as that is flushed. Closing a socket with unread bytes makes the kernel
 * send a reset, which can reach the client before it has read the answer: a client that sends
 * its whole body before reading got EPIPE and no answer at all. Instead the socket sends FIN
 * after the answer and goes on reading the body, dropping it, until the body or the client's
 * side ends, LINGER_MS pass or about LINGER_BYTES more arrived; then it closes. So the client
 * can read the answer, and a client that sends for ever costs two seconds of reading at most.
 */
function lingerAfterAnswer(req: IncomingMessage): void {
  const socket = req.socket as (Socket & { destroySoon(): void }) | null;
  if (!socket) return; // already closed
  const original = socket.destroySoon;
  socket.destroySoon = function lingeringClose(this: typeof socket): void {
    if (req.complete || this.destroyed) return original.call(this);
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    // After the answer and FIN are flushed: destroying earlier would drop them.
    const close = (): void => {
      if (this.writableFinished) this.destroy();
      else this.once('finish', () => this.destroy());
    };
    // The parser drops the rest of the body without handing it to anyone (the request is dumped):
    // the socket's byte count is the only measure of it.
    const readBefore = this.bytesRead;
    const meter = setInterval(() => {
      if (this.bytesRead - readBefore > LINGER_BYTES) close();
    }, LINGER_CHECK_MS);
    meter.unref();
    req.once('end', close);
    this.once('end', close);
    this.once('close', () => {
      clearTimeout(timer);
      clearInterval(meter);
    });
    this.end();
    req.resume();
  };
}
