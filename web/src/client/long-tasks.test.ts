// watchLongTasks: reports the long tasks the browser observes at or above the bound, and does
// nothing where the Long Tasks API is missing (Node, Firefox, Safari).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { watchLongTasks } from './long-tasks.ts';

test('without the Long Tasks API, watching is a no-op', () => {
  assert.ok(!PerformanceObserver.supportedEntryTypes.includes('longtask'), "Node's observer has no longtask entries");
  const stop = watchLongTasks(() => assert.fail('nothing to report'));
  stop();
});

test('each observed task at or above the bound is reported with its duration; shorter ones are not', () => {
  const real = globalThis.PerformanceObserver;
  let callback!: (list: { getEntries(): { duration: number }[] }) => void;
  let observed: unknown = null;
  let disconnected = false;
  class FakeObserver {
    static supportedEntryTypes = ['longtask'];
    constructor(cb: typeof callback) {
      callback = cb;
    }
    observe(o: unknown) {
      observed = o;
    }
    disconnect() {
      disconnected = true;
    }
  }
  globalThis.PerformanceObserver = FakeObserver as unknown as typeof PerformanceObserver;
  try {
    const got: number[] = [];
    const stop = watchLongTasks((ms) => got.push(ms), 1_000);
    assert.deepEqual(observed, { type: 'longtask' });
    callback({ getEntries: () => [{ duration: 60 }, { duration: 1_000 }, { duration: 95_000 }] });
    assert.deepEqual(got, [1_000, 95_000]);
    stop();
    assert.ok(disconnected);
  } finally {
    globalThis.PerformanceObserver = real;
  }
});
