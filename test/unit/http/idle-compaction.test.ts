import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { IdleCompaction } from '../../../src/http/idle-compaction.ts';
import type { InFlightResponses } from '../../../src/http/in-flight.ts';

const MiB = 1024 * 1024;

/** A stand-in for the server's in-flight responses, driven by the test. */
class FakeInFlight {
  started = 0;
  readonly open = new Set<ServerResponse>();
  onSettled(): void {}
  begin(): ServerResponse {
    this.started++;
    const res = {} as ServerResponse;
    this.open.add(res);
    return res;
  }
  end(res: ServerResponse): void {
    this.open.delete(res);
  }
}

describe('IdleCompaction', () => {
  const made: IdleCompaction[] = [];
  afterEach(() => made.splice(0).forEach((c) => c.stop()));

  function setup(heapMiB: number) {
    const inFlight = new FakeInFlight();
    const state = { heap: heapMiB * MiB, compactions: 0, reports: [] as [number, number][] };
    const compaction = new IdleCompaction(inFlight as unknown as InFlightResponses, {
      checkEveryMs: 60_000, // the test calls check() itself
      minGrowthBytes: 8 * MiB,
      heapBytes: () => state.heap,
      compact: () => {
        state.compactions++;
        state.heap = 22 * MiB;
      },
      compacted: (before, after) => state.reports.push([before / MiB, after / MiB]),
    });
    made.push(compaction);
    return { inFlight, state, compaction };
  }

  it('compacts once the server has been quiet for a whole check after work that grew the heap', () => {
    const { inFlight, state, compaction } = setup(20);
    inFlight.end(inFlight.begin());
    state.heap = 40 * MiB;
    compaction.check(); // a request began since the last check: not quiet yet
    assert.equal(state.compactions, 0);
    compaction.check();
    assert.equal(state.compactions, 1);
    assert.deepEqual(state.reports, [[40, 22]]);
    state.heap = 60 * MiB; // grown, but no request since: nothing new to give back from requests
    compaction.check();
    assert.equal(state.compactions, 1, 'one compaction per quiet period');
  });

  it('never compacts while a response is open, however long', () => {
    const { inFlight, state, compaction } = setup(20);
    const slow = inFlight.begin();
    state.heap = 40 * MiB;
    for (let i = 0; i < 5; i++) compaction.check();
    assert.equal(state.compactions, 0);
    inFlight.end(slow);
    compaction.check();
    assert.equal(state.compactions, 1);
  });

  it('waits for quiet while requests keep coming, and skips a heap that grew less than the minimum', () => {
    const { inFlight, state, compaction } = setup(20);
    for (let i = 0; i < 5; i++) {
      inFlight.end(inFlight.begin());
      state.heap += 4 * MiB;
      compaction.check();
    }
    assert.equal(state.compactions, 0, 'a request began before every check');
    compaction.check();
    assert.equal(state.compactions, 1);

    inFlight.end(inFlight.begin()); // a health probe: the heap grew 1 MiB since the compaction
    state.heap = 23 * MiB;
    compaction.check();
    compaction.check();
    compaction.check();
    assert.equal(state.compactions, 1);
    state.heap = 31 * MiB; // the next quiet check sees the growth
    compaction.check();
    assert.equal(state.compactions, 2);
  });
});
