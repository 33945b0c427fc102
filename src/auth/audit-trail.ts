import type { AuditLog } from '../metadata/auth-store.ts';

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
 */
export class AuditTrail {
  constructor(
    private readonly log: AuditLog,
    private readonly now: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  async record(entry: AuditEntry): Promise<void> {
    const project = entry.project !== undefined ? entry.project : entry.target.includes('/') ? entry.target.split('/', 1)[0]! : null;
    try {
      await this.log.append({
        at: this.now(),
        actor: entry.actor || 'anonymous',
        action: entry.action,
        target: entry.target.slice(0, 500),
        project,
        ip: entry.ip ?? '',
        detail: (entry.detail ?? '').slice(0, 500),
      });
    } catch (err) {
      this.onError(err);
    }
  }
}
