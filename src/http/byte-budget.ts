/**
 * Bytes the process may hold at once for one purpose (request bodies buffered in memory), shared
 * by all requests: each takes what it buffers and gives it back when done.
 */
export class ByteBudget {
  private held = 0;

  constructor(readonly capacity: number) {}

  /** Takes `n` bytes when they fit; false, taking nothing, when they would exceed the capacity. */
  take(n: number): boolean {
    if (this.held + n > this.capacity) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held = Math.max(0, this.held - n);
  }

  get inUse(): number {
    return this.held;
  }
}
