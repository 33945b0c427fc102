import { IncomingMessage } from 'node:http';

/** Node's drain of an unread request (a Node without it never calls CompleteRequest's either). */
const nodeDump = (IncomingMessage.prototype as unknown as { _dump(this: IncomingMessage): void })._dump;

/**
 * The server's request class (Node's `IncomingMessage` option): a request that has nothing left
 * to drain when its answer is finished is not drained.
 *
 * Node drains every request nobody read once its answer is finished (`_dump`), so that the
 * unread rest of a body is pulled off the wire before the next request on the connection. A
 * request without a body (every GET and HEAD) is complete before its handler runs: nothing is
 * on the wire and nothing buffered. Draining it anyway resumes the stream, reads its end three
 * times, emits 'end', destroys it and emits 'close': six of the nine callbacks such a request
 * schedules through process.nextTick, each about 4,000 instructions in Node 20 (the tick object,
 * a literal with computed symbol keys, is built through a V8 runtime call). Not draining took a
 * GET of a manifest from 205,000 to 176,000 instructions (callgrind).
 *
 * Such a request is left as it is instead: nobody waits for its 'end' or 'close' once its
 * answer is finished (a client that goes away before then still destroys it, which emits
 * 'close'), and the connection's parser already reads the next request. A request with unread
 * body bytes, arrived or still arriving, is drained as Node does.
 */
export class CompleteRequest extends IncomingMessage {
  /** Node's own (not in its typings); called once the answer is finished when nobody read the request. */
  _dump(): void {
    if (this.complete && this.readableLength === 0 && !this.destroyed) {
      (this as { _dumped?: boolean })._dumped = true;
      return;
    }
    nodeDump.call(this);
  }
}
