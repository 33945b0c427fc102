import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyncWhileFast } from '../../../src/storage/fs/sync-while-fast.ts';

/** Runs `n` calls of `ms` each through `policy.time`. */
function calls(policy: SyncWhileFast, n: number, ms: number): void {
  for (let i = 0; i < n; i++) {
    policy.time(() => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    });
  }
}

/** How many of the next `n` decisions are "run synchronously". */
function syncOf(policy: SyncWhileFast, n: number): number {
  let sync = 0;
  for (let i = 0; i < n; i++) if (policy.runSync()) sync++;
  return sync;
}

describe('SyncWhileFast', () => {
  it('runs calls synchronously while they are fast', () => {
    const policy = new SyncWhileFast(0.5);
    assert.equal(syncOf(policy, 100), 100);
    calls(policy, 20, 0);
    assert.equal(syncOf(policy, 100), 100);
  });

  it('sends calls to the pool while most synchronous ones are over the limit, all but every probeEvery-th', () => {
    const policy = new SyncWhileFast(0.5, 16);
    calls(policy, 20, 2);
    assert.equal(syncOf(policy, 64), 4);
  });

  it('goes back to synchronous calls once the probes are fast again', () => {
    const policy = new SyncWhileFast(0.5, 16);
    calls(policy, 20, 2);
    assert.equal(syncOf(policy, 16), 1);
    calls(policy, 30, 0); // the probes' durations pull the average down
    assert.equal(syncOf(policy, 16), 16);
  });

  it('an occasional slow call (a fast one descheduled) does not send calls to the pool', () => {
    const policy = new SyncWhileFast(0.5);
    for (let i = 0; i < 5; i++) {
      calls(policy, 1, 3);
      calls(policy, 5, 0);
    }
    assert.equal(syncOf(policy, 32), 32);
  });

  it('counts calls that throw, and passes on their error and their result', () => {
    const policy = new SyncWhileFast(0.5);
    assert.equal(policy.time(() => 42), 42);
    for (let i = 0; i < 8; i++) {
      assert.throws(() =>
        policy.time(() => {
          const until = performance.now() + 2;
          while (performance.now() < until);
          throw new Error('EIO');
        }),
      /EIO/);
    }
    assert.ok(syncOf(policy, 16) < 16, 'slow failing calls count too');
  });
});
