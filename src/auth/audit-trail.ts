import type { AuditEvent, AuditLog } from '../metadata/auth-store.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  ip?: string;
  detail?: string;
  /** The project the target belongs to; derived from a repository target when omitted. */
  project?: string | null;
}

/**
 * Records security-relevant events (logins, denials, pushes, deletes, permission changes).
 * Never throws: a failing audit write is reported through `onError` and the request goes on.
 * Callers must never put a secret in any field.
 *
 * Group commit: events recorded in the same turn of the event loop are written together, in one
 * statement (one commit) when the log supports `appendMany`. Each `record` still resolves only
 * after its own event is written, so a request that awaits it answers after its audit row is
 * committed, exactly as with one insert per event; concurrent pushes just share the commit.
 */
export class AuditTrail {
  private pending: { event: AuditEvent; done: () => void }[] = [];

  constructor(
    private readonly log: AuditLog,
    private readonly now: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  record(entry: AuditEntry): Promise<void> {
    const project = entry.project !== undefined ? entry.project : entry.target.includes('/') ? entry.target.split('/', 1)[0]! : null;
    const event: AuditEvent = {
      at: this.now(),
      actor: entry.actor || 'anonymous',
      action: entry.action,
      target: entry.target.slice(0, 500),
      project,
      ip: entry.ip ?? '',
      detail: (entry.detail ?? '').slice(0, 500),
    };
    if (!this.log.appendMany) return this.appendOne(event);
    return new Promise((resolve) => {
      this.pending.push({ event, done: resolve });
      if (this.pending.length === 1) setImmediate(() => void this.flush());
    });
  }

  private async appendOne(event: AuditEvent): Promise<void> {
    try {
      await this.log.append(event);
    } catch (err) {
      this.onError(err);
    }
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      if (batch.length === 1) await this.log.append(batch[0]!.event);
      else await this.log.appendMany!(batch.map((b) => b.event));
    } catch (err) {
      this.onError(err);
    }
    for (const b of batch) b.done();
  }
}
