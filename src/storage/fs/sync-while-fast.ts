/**
 * Whether a short file-system call runs synchronously on the event loop or goes to libuv's
 * thread pool.
 *
 * A trip through the pool stalls the event loop about 100 us on a busy two-vCPU machine (waking a
 * worker, being woken back), more than the call itself when it is fast: an inode allocation, a
 * 256 KiB read from the page cache (about 35 us). But the same call can be slow (a read that
 * goes to the disk, ext4 scanning recently freed inodes), and then it must not hold the loop.
 * While the calls made synchronously average more than `slowMs`, calls go to the pool, all but
 * every `probeEvery`-th, which measures whether they are fast again.
 */
export class SyncWhileFast {
  private averageMs = 0;
  private offLoop = 0;

  constructor(
    private readonly slowMs: number,
    private readonly probeEvery = 16,
  ) {}

  /** Whether the next call should run synchronously (then through `time`). */
  runSync(): boolean {
    return this.averageMs <= this.slowMs || ++this.offLoop % this.probeEvery === 0;
  }

  /** Runs `fn` synchronously and counts its duration into the average. */
  time<T>(fn: () => T): T {
    const started = performance.now();
    try {
      return fn();
    } finally {
      this.averageMs += (performance.now() - started - this.averageMs) / 8;
    }
  }
}
