import type { Logger } from 'pino';
import type { DownloadEvent, ImageStore } from '../metadata/image-store.ts';

/**
 * Counts manifest pulls in memory and writes them in one transaction per interval, so the pull
 * path never waits on a database write. Readers that show counts call `flush()` first, so a
 * pull is visible to the next read on this node.
 */
export class DownloadCounter {
  private pending = new Map<string, DownloadEvent>();
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: ImageStore,
    private readonly logger: Pick<Logger, 'error'>,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** One manifest GET of `image` (its full name), by `tag` when pulled by tag. */
  record(image: string, tag?: string): void {
    const key = tag === undefined ? `${image}@` : `${image}:${tag}`;
    const event = this.pending.get(key);
    if (event) event.count += 1;
    else this.pending.set(key, tag === undefined ? { image, count: 1 } : { image, tag, count: 1 });
  }

  /** Writes what has been counted so far; resolves when it is stored. Never rejects. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      this.pending = new Map();
      try {
        await this.store.addDownloads(batch);
      } catch (err) {
        this.logger.error({ err, events: batch.length }, 'could not store download counts; they are dropped');
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
