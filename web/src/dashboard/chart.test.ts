import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chartGeometry, niceTicks } from './chart.ts';

test('niceTicks picks 1-2-5 steps inside the range', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.5, 1]);
  assert.deepEqual(niceTicks(0, 10, 6), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.3, 2.6, 5), [1, 2]); // step 0.5 would give 5 ticks, but 1 is the first 1-2-5 step ≥ (2.6 − 0.3)/4
  assert.deepEqual(niceTicks(3, 3), [3]);
});

test('chartGeometry maps the first point to the left/bottom edge and the last to the right', () => {
  const g = chartGeometry([{ label: 'a', color: 'red', points: [{ x: 0, y: 0 }, { x: 10, y: 1 }] }], 500, 200, { yMin: 0, yMax: 1 });
  assert.equal(g.paths[0].d, `M${g.plot.left.toFixed(1)},${g.plot.bottom.toFixed(1)}L${g.plot.right.toFixed(1)},${g.plot.top.toFixed(1)}`);
  assert.equal(g.paths[0].last?.value, 1);
  assert.deepEqual(chartGeometry([], 500, 200).paths, []);
});
