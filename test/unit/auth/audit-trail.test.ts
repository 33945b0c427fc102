import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditTrail } from '../../../src/auth/audit-trail.ts';
import type { AuditEvent, AuditLog } from '../../../src/metadata/auth-store.ts';

function fakeLog(opts: { many: boolean; fail?: boolean }): AuditLog & { written: AuditEvent[]; calls: number[] } {
  const written: AuditEvent[] = [];
  const calls: number[] = [];
  const write = async (events: AuditEvent[]): Promise<void> => {
    await new Promise((r) => setTimeout(r, 1));
    if (opts.fail) throw new Error('disk full');
    calls.push(events.length);
    written.push(...events);
  };
  return {
    written,
    calls,
    append: (e) => write([e]),
    ...(opts.many ? { appendMany: (es: AuditEvent[]) => write(es) } : {}),
    list: async () => ({ items: [], total: 0 }),
  };
}

describe('AuditTrail', () => {
  it('writes events recorded together in one batch, in order, and resolves each only after the write', async () => {
    const log = fakeLog({ many: true });
    const trail = new AuditTrail(log, () => 42, () => assert.fail('no error expected'));
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await trail.record({ actor: 'alice', action: 'push', target: `p/r${i}`, detail: `d${i}` });
        return log.written.some((e) => e.target === `p/r${i}`);
      }),
    );
    assert.ok(results.every(Boolean), 'every record resolved after its event was written');
    assert.deepEqual(log.calls, [20]);
    assert.deepEqual(log.written.map((e) => e.target), Array.from({ length: 20 }, (_, i) => `p/r${i}`));
    assert.equal(log.written[3]!.project, 'p');
    assert.equal(log.written[3]!.at, 42);
    await trail.record({ actor: '', action: 'login', target: 'x' });
    assert.deepEqual(log.calls, [20, 1]);
    assert.equal(log.written[20]!.actor, 'anonymous');
  });

  it('without appendMany writes one by one', async () => {
    const log = fakeLog({ many: false });
    const trail = new AuditTrail(log, Date.now, () => assert.fail('no error expected'));
    await Promise.all([trail.record({ actor: 'a', action: 'x', target: 't1' }), trail.record({ actor: 'a', action: 'x', target: 't2' })]);
    assert.deepEqual(log.calls, [1, 1]);
  });

  it('never throws: a failed batch reaches onError once and every record still resolves', async () => {
    const errors: unknown[] = [];
    const trail = new AuditTrail(fakeLog({ many: true, fail: true }), Date.now, (err) => errors.push(err));
    await Promise.all([trail.record({ actor: 'a', action: 'x', target: 't1' }), trail.record({ actor: 'a', action: 'x', target: 't2' })]);
    assert.equal(errors.length, 1);
  });
});
