import type { Logger } from 'pino';
import type { GarbageCollector, GcSummary } from './garbage-collector.ts';

/**
 * Runs the collector in the background: a leftover sweep shortly after start, then a collection
 * every `intervalMs` (0 disables both). Runs never overlap; `stop` aborts the current run between
 * batches and waits for it.
 */
export class GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly collector: GarbageCollector,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    /** Delay of the first run after start (the start-up sweep). */
    private readonly firstDelayMs = 1000,
    /** Told of every scheduled run: its summary, or undefined when it failed (metrics). */
    private readonly onRun?: (summary: GcSummary | undefined) => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    if (this.intervalMs > 0) {
      this.schedule(this.firstDelayMs, true);
      return;
    }
    // Scheduled GC is off, but deletions a crash cut short must still finish (a scheduled run starts with them).
    this.current = this.finishInterrupted().finally(() => {
      this.current = undefined;
    });
  }

  private async finishInterrupted(): Promise<void> {
    try {
      const freed = await this.collector.finishInterrupted({ signal: this.abort.signal });
      if (freed.count > 0) this.logger.info({ gc: freed }, `gc: finished ${freed.count} deletions of an interrupted run`);
    } catch (err) {
      if (!this.abort.signal.aborted) this.logger.error({ err }, 'finishing an interrupted garbage collection failed');
    }
  }

  private schedule(delay: number, first: boolean): void {
    this.timer = setTimeout(() => {
      this.current = this.runOnce(first).finally(() => {
        this.current = undefined;
        if (!this.stopped) this.schedule(this.intervalMs, false);
      });
    }, delay);
    this.timer.unref();
  }

  private async runOnce(first: boolean): Promise<void> {
    const signal = this.abort.signal;
    try {
      if (first) {
        const leftovers = await this.collector.sweepLeftovers({ signal });
        if (leftovers.stagedUploads + leftovers.blobFiles > 0) this.logger.info({ gc: leftovers }, 'removed leftovers of interrupted uploads');
      }
      const summary = await this.collector.collect({ signal });
      this.onRun?.(summary);
      this.logger.info({ gc: summary }, `gc: ${summary.blobsDeleted} blobs (${summary.bytesFreed} bytes) freed, ${summary.manifestsRemoved} manifests removed, ${summary.uploadsExpired} uploads expired`);
    } catch (err) {
      if (signal.aborted) return;
      this.onRun?.(undefined);
      this.logger.error({ err }, 'garbage collection failed; retrying at the next interval');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.current;
  }
}
