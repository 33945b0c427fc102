import type { Server, ServerResponse } from 'node:http';

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
 * it runs when the last such response has flushed or its connection closed. The whole sweep
 * waits rather than one connection, because Node's sweep cannot be told to skip one; the
 * caller's overall shutdown deadline bounds the wait for a reader that stopped reading.
 */
export function sweepIdleConnectionsSafely(server: Server): void {
  const open = new Set<ServerResponse>();
  const sweep = server.closeIdleConnections.bind(server);
  let deferred = false;

  const unflushed = () => {
    for (const res of open) if (res.writableEnded) return true;
    return false;
  };
  const settle = (res: ServerResponse) => {
    open.delete(res);
    if (deferred && !unflushed()) {
      deferred = false;
      sweep();
    }
  };

  server.on('request', (_req, res: ServerResponse) => {
    open.add(res);
    // 'close' follows 'finish' (the bytes handed to the OS), or ends a connection cut before it.
    res.once('close', () => settle(res));
  });
  server.closeIdleConnections = () => {
    if (unflushed()) deferred = true;
    else sweep();
  };
}
