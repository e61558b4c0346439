// The scale and load harnesses' input helpers (e2e/scale-inputs.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inLanes } from './scale-inputs.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('inLanes: every item once, in order of start, never more than `lanes` in flight', async () => {
  const items = Array.from({ length: 37 }, (_, i) => i * 10);
  const started: number[] = [];
  const seen: [number, number][] = [];
  let inFlight = 0;
  let most = 0;
  await inLanes(items, 4, async (item, i) => {
    started.push(item);
    seen.push([item, i]);
    most = Math.max(most, ++inFlight);
    await tick(i % 3);
    inFlight--;
  });
  assert.deepEqual(started, items, 'each item started once, in order');
  assert.ok(
    seen.every(([item, i]) => item === items[i]),
    'the index is the item’s',
  );
  assert.equal(most, 4, 'four in flight at once, not more');
  assert.equal(inFlight, 0, 'resolved only after every call did');
});

test('inLanes: fewer items than lanes, none, one lane', async () => {
  let calls = 0;
  await inLanes([1, 2], 256, async () => void calls++);
  assert.equal(calls, 2);
  await inLanes([], 8, async () => void calls++);
  assert.equal(calls, 2);
  const order: number[] = [];
  await inLanes([3, 1, 2], 1, async (x) => {
    await tick(x);
    order.push(x);
  });
  assert.deepEqual(order, [3, 1, 2], 'one lane is one after another');
});

test('inLanes: a failure rejects; a bad lane count is refused by name', async () => {
  await assert.rejects(
    inLanes([1, 2, 3], 2, async (x) => {
      if (x === 2) throw new Error('item 2 failed');
    }),
    /item 2 failed/,
  );
  await assert.rejects(
    inLanes([1], 0, async () => {}),
    /lanes must be an integer ≥ 1, got 0/,
  );
  await assert.rejects(
    inLanes([1], 1.5, async () => {}),
    /lanes must be an integer ≥ 1, got 1.5/,
  );
});
