// forEachInSlices (slices.ts): the first slice synchronously, the rest one per loop turn with
// the loop served between them, every item once and in order; a throw rejects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachInSlices } from './slices.ts';

test('forEachInSlices: first slice at once, the rest a slice per loop turn, in order', async () => {
  const seen: number[] = [];
  const items = Array.from({ length: 10 }, (_, i) => i);
  let timerRan = -1;
  setImmediate(() => (timerRan = seen.length));
  const done = forEachInSlices(items, (i) => void seen.push(i), 4);
  assert.deepEqual(seen, [0, 1, 2, 3], 'the first slice is synchronous');
  await done;
  assert.deepEqual(seen, items);
  assert.ok(timerRan >= 4 && timerRan < 10, `the loop ran other work between slices (after ${timerRan} items)`);
  const small: number[] = [];
  await forEachInSlices([1, 2], (i) => void small.push(i), 4);
  assert.deepEqual(small, [1, 2]);
  await assert.rejects(
    forEachInSlices(
      items,
      (i) => {
        if (i === 7) throw new Error('item 7');
      },
      4,
    ),
    /item 7/,
  );
});
