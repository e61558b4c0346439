// The commit's phase clock (commit-phases.ts): a synchronous phase that spins shows its CPU and
// its block on the event loop; a phase that waits on a timer shows wall time with little CPU; a
// phase run twice adds up; a worker's reported CPU is kept; the load harness's summary reads p50/p99.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommitClock, summarizeCommitPhases, threadCpuMs, type CommitPhases } from './commit-phases.ts';

/** Busy for `ms` of this thread's CPU time where it can be read (on a loaded machine wall and CPU part), else of wall time. */
const spin = (ms: number) => {
  const cpu = () => threadCpuMs() ?? performance.now();
  const until = cpu() + ms;
  while (cpu() < until);
};

test('CommitClock: wall, event-loop CPU, worker CPU and the longest loop block per phase', async () => {
  const linux = threadCpuMs() !== null;
  const clock = new CommitClock(7);
  await clock.time('decide', () => spin(80));
  await clock.time(
    'evaluate',
    () => new Promise<{ cpuMs: number }>((r) => setTimeout(() => r({ cpuMs: 12.5 }), 120)),
    (x) => x.cpuMs,
  );
  await clock.time('ledger', () => spin(10));
  await clock.time('ledger', () => spin(10));
  const c = clock.finish();
  assert.equal(c.round, 7);
  assert.ok(c.endedAt >= c.startedAt + 200, JSON.stringify(c));
  const { decide, evaluate, ledger } = c.phases;
  assert.ok(decide && evaluate && ledger);
  assert.ok(decide.wallMs >= 80 && decide.loopBlockMs >= 60, JSON.stringify(decide));
  assert.equal(decide.threadCpuMs, null, 'no worker did this phase');
  assert.ok(evaluate.wallMs >= 115, JSON.stringify(evaluate));
  assert.equal(evaluate.threadCpuMs, 12.5);
  assert.ok(evaluate.loopBlockMs < 60, `a phase waiting on a timer does not block the loop: ${JSON.stringify(evaluate)}`);
  assert.ok(ledger.wallMs >= 20, 'a phase run twice adds up');
  if (linux) {
    assert.ok(decide.loopCpuMs! >= 70 && decide.loopCpuMs! <= decide.wallMs + 5, JSON.stringify(decide));
    assert.ok(evaluate.loopCpuMs! < evaluate.wallMs / 2, `waiting costs the loop little CPU: ${JSON.stringify(evaluate)}`);
  } else assert.equal(decide.loopCpuMs, null);
  assert.equal(c.phases.combine, undefined, 'a phase that did not run is absent');
});

test('summarizeCommitPhases: p50/p99 per phase over the commits that ran it, nulls left out', () => {
  const commit = (round: number, wall: number, thread: number | null, block: number): CommitPhases => ({
    round,
    startedAt: 0,
    endedAt: wall,
    phases: {
      combine: { wallMs: wall, loopCpuMs: wall / 10, threadCpuMs: thread, loopBlockMs: block },
      ...(round === 0 ? { apply: { wallMs: 5, loopCpuMs: 5, threadCpuMs: null, loopBlockMs: 0 } } : {}),
    },
  });
  const s = summarizeCommitPhases([commit(0, 100, 90, 3), commit(1, 300, null, 40), commit(2, 200, 180, 12)]);
  assert.deepEqual(Object.keys(s), ['combine', 'apply'], 'in commit order');
  assert.deepEqual(s.combine, {
    commits: 3,
    wall: { p50: 200, p99: 300 },
    loopCpu: { p50: 20, p99: 30 },
    threadCpu: { p50: 180, p99: 180 },
    loopBlockMaxMs: 40,
  });
  assert.deepEqual(s.apply, { commits: 1, wall: { p50: 5, p99: 5 }, loopCpu: { p50: 5, p99: 5 }, threadCpu: null, loopBlockMaxMs: 0 });
  assert.deepEqual(summarizeCommitPhases([]), {});
});
