import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * "Expect: 100-continue" answered when the body is wanted, not on arrival.
 *
 * A client sending that header waits for "100 Continue" before it sends the body, so that a
 * request the server refuses (no credentials, no such upload, a quota) costs it no upload. Node
 * answers 100 itself the moment the head arrives, before any code has looked at the request,
 * unless the server handles 'checkContinue'; then it is up to the handler. Here the request
 * goes on as any other, and the first read of its body (a JSON parser, an upload's pump) sends
 * the 100 first. A request answered without reading its body never gets one: the client sees
 * the final status instead, and the connection closes after it (connection-reuse.ts), since
 * the client may still send the body.
 */
export function continueWhenBodyIsRead(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const read = req._read;
    req._read = function readAfterContinue(this: IncomingMessage, size: number): void {
      req._read = read;
      // After the final answer (Node drops an unread body then) a 100 would be a protocol error.
      if (!res.headersSent && !res.writableEnded && !res.destroyed) res.writeContinue();
      read.call(this, size);
    };
    server.emit('request', req, res);
  });
}
