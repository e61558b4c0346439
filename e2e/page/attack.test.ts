import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attackTrained, isPageAttack } from './attack.ts';

const before = Float32Array.from([1, 2, 3, 4]);
const after = Float32Array.from([0.9, 2.1, 3, 3.5]);
const delta = (p: Float32Array) => Array.from(before, (b, i) => Math.fround(b - p[i]));

test('sign-flip sends −4Δ, lazy sends nothing, noise is large and seeded by the round', () => {
  const honest = delta(after);
  delta(attackTrained('sign-flip', before, after, 3)).forEach((d, i) =>
    assert.ok(Math.abs(d + 4 * honest[i]) < 1e-5, `coordinate ${i}: ${d} vs ${-4 * honest[i]}`),
  );
  assert.deepEqual(delta(attackTrained('lazy', before, after, 3)), [0, 0, 0, 0]);
  const n1 = attackTrained('noise', before, after, 3);
  assert.deepEqual(n1, attackTrained('noise', before, after, 3));
  assert.notDeepEqual(n1, attackTrained('noise', before, after, 4));
  // Against an honest update of scale 1e-2 per coordinate (the MLP's is smaller still).
  const big = new Float32Array(1000).fill(1);
  const noisy = attackTrained(
    'noise',
    big,
    big.map((x) => x - 0.01),
    1,
  );
  const norm = Math.hypot(...Array.from(big, (b, i) => b - noisy[i]));
  assert.ok(norm > 10 * Math.hypot(...new Array(1000).fill(0.01)), `noise norm ${norm}`);
});

test('only the page attacks are recognised', () => {
  assert.ok(isPageAttack('sign-flip'));
  assert.ok(!isPageAttack('alie'));
  assert.ok(!isPageAttack(undefined));
});
