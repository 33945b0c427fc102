/**
 * Whether a short file-system call runs synchronously on the event loop or goes to libuv's
 * thread pool.
 *
 * A trip through the pool stalls the event loop about 100 us on a busy two-vCPU machine (waking a
 * worker, being woken back), more than the call itself when it is fast: an inode allocation, a
 * 256 KiB read from the page cache (about 35 us). But the same call can be slow (a read that
 * goes to the disk, ext4 scanning recently freed inodes), and then it must not hold the loop.
 * While more than half of the recent synchronous calls took longer than `slowMs`, calls go to the
 * pool, all but every `probeEvery`-th, which measures whether they are fast again.
 *
 * A share of slow calls rather than their mean duration: on a busy machine a fast call is now
 * and then descheduled for milliseconds, and one such call would lift a mean over the limit.
 */
export class SyncWhileFast {
  /** Moving share (weight 1/8) of the synchronous calls that took longer than slowMs. */
  private slowShare = 0;
  private offLoop = 0;

  constructor(
    private readonly slowMs: number,
    private readonly probeEvery = 16,
  ) {}

  /** Whether the next call should run synchronously (then through `time`). */
  runSync(): boolean {
    return this.slowShare <= 0.5 || ++this.offLoop % this.probeEvery === 0;
  }

  /** Runs `fn` synchronously and counts whether it was slow. */
  time<T>(fn: () => T): T {
    const started = performance.now();
    try {
      return fn();
    } finally {
      const slow = performance.now() - started > this.slowMs ? 1 : 0;
      this.slowShare += (slow - this.slowShare) / 8;
    }
  }
}
