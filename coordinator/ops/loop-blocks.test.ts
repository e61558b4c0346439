// The loop watch used by e2e/commit-stall.ts: a synchronous stretch is seen as a block of at
// least its length and charged to the phase it overlaps. Lower bounds only: they cannot flake under load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { blocksByPhase, reportLoopBlocks, watchLoop, type PhaseSpan } from './loop-blocks.ts';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('a 200 ms synchronous stretch is a block of at least ~200 ms, charged to its phase', async () => {
  const watch = watchLoop({ tickMs: 10, minMs: 20 });
  await sleep(50);
  const phases: PhaseSpan[] = [];
  let start = performance.now();
  busy(200);
  phases.push({ name: 'busy', start, end: performance.now() });
  await sleep(30);
  start = performance.now();
  await sleep(250);
  phases.push({ name: 'awaited', start, end: performance.now() });
  const { blocks, longestMs, histogramMaxMs } = watch.stop();
  assert.ok(longestMs >= 180, `longest ${longestMs} ms`);
  assert.ok(histogramMaxMs >= 150, `histogram max ${histogramMaxMs} ms`);
  const charged = blocksByPhase(blocks, phases);
  assert.ok(charged.get('busy')!.longestMs >= 180, JSON.stringify([...charged]));
  // Nothing is asserted of the awaited phase: a loaded machine may starve a waiting process
  // too, and the watch reports wall time (no upper bound here can be relied on).
});

test('a block that is still running when the watch stops is counted', () => {
  const watch = watchLoop({ tickMs: 10, minMs: 20 });
  busy(120);
  const { blocks, longestMs } = watch.stop();
  assert.ok(longestMs >= 100, `longest ${longestMs} ms`);
  assert.equal(blocks.length, 1);
});

test('reportLoopBlocks reports a stretch at or above its bound, once, and nothing after stop', async () => {
  const got: number[] = [];
  const stop = reportLoopBlocks((ms) => got.push(ms), { minMs: 150, tickMs: 10 });
  await sleep(30);
  busy(250);
  await sleep(40);
  stop();
  assert.ok(got.length >= 1 && got.some((ms) => ms >= 200), JSON.stringify(got));
  const seen = got.length;
  busy(200);
  await sleep(40);
  assert.equal(got.length, seen);
});
