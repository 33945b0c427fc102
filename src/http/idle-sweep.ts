import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How often a put-off sweep looks again whether every ended answer has flushed. */
const SWEEP_RETRY_MS = 25;

/**
 * Makes `server.closeIdleConnections()` leave every answer whole.
 *
 * Node's sweep (called by server.close() itself, by Fastify's close, and by the shutdown's
 * repeated sweep) destroys each connection that is not parsing a request and whose response is
 * `finished`. But `finished` means end() was called, not that the bytes left: a download whose
 * last megabytes still sit in Node's buffer, waiting for a slow reader, was cut mid-body when a
 * shutdown swept at that moment.
 *
 * While any response has ended but not flushed ('finish' not yet emitted), a sweep is put off;
 * it runs once every such response has flushed or lost its connection (looked at every
 * SWEEP_RETRY_MS). The whole sweep waits rather than one connection, because Node's sweep
 * cannot be told to skip one; the caller's overall shutdown deadline bounds the wait for a
 * reader that stopped reading.
 */
export function sweepIdleConnectionsSafely(server: Server): void {
  // Connections, not responses: a Set entry and a listener per connection, where tracking
  // responses cost every request a second 'request' listener, a Set entry and a once('close').
  // The answer a connection is writing is its socket's _httpMessage, which Node's sweep reads too.
  const sockets = new Set<Socket>();
  const sweep = server.closeIdleConnections.bind(server);
  let retry: NodeJS.Timeout | undefined;

  const unflushed = (): boolean => {
    for (const socket of sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && res.writableEnded && !res.writableFinished) return true;
    }
    return false;
  };
  const sweepWhenFlushed = (): void => {
    if (!unflushed()) {
      retry = undefined;
      sweep();
      return;
    }
    // Looked at again shortly: shutdown is not in a hurry, and an answer flushes or its
    // connection closes (the caller's deadline ends a reader that stopped) without telling us.
    retry = setTimeout(sweepWhenFlushed, SWEEP_RETRY_MS);
    retry.unref();
  };

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.closeIdleConnections = () => {
    if (retry === undefined) sweepWhenFlushed();
  };
}
