import type { Server, ServerResponse } from 'node:http';

/**
 * The responses a server has open: from its 'request' event until the response's 'close' (which
 * follows 'finish', the bytes handed to the OS, or ends a connection cut before it). One listener
 * per request, shared by whatever needs to know whether requests are in flight.
 */
export class InFlightResponses {
  private readonly responses = new Set<ServerResponse>();
  private readonly settledListeners: ((res: ServerResponse) => void)[] = [];
  /** Requests begun since the server started (a counter that only grows). */
  started = 0;

  constructor(server: Server) {
    server.on('request', (_req, res: ServerResponse) => {
      this.started++;
      this.responses.add(res);
      res.once('close', () => this.settle(res));
    });
  }

  get open(): ReadonlySet<ServerResponse> {
    return this.responses;
  }

  /** `listener` runs after each response leaves `open`. */
  onSettled(listener: (res: ServerResponse) => void): void {
    this.settledListeners.push(listener);
  }

  private settle(res: ServerResponse): void {
    this.responses.delete(res);
    for (const listener of this.settledListeners) listener(res);
  }
}
