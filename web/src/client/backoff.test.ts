import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconnectDelayMs, DEFAULT_BACKOFF } from './backoff.ts';

test('the delay doubles per attempt up to the cap, drawn in [ceiling/2, ceiling]', () => {
  const ceilings = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
  ceilings.forEach((c, attempt) => {
    assert.equal(
      reconnectDelayMs(attempt, () => 0),
      c / 2,
      `attempt ${attempt} lowest`,
    );
    assert.equal(
      reconnectDelayMs(attempt, () => 0.999999),
      c,
      `attempt ${attempt} highest`,
    );
  });
  assert.equal(
    reconnectDelayMs(1_000, () => 0.5),
    22_500,
    'a huge attempt count stays at the cap',
  );
});

test('a herd of pages reconnecting at once spreads over the window instead of arriving together', () => {
  let seed = 42;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const delays = Array.from({ length: 1_000 }, () => reconnectDelayMs(3, random));
  const ceiling = DEFAULT_BACKOFF.baseMs * 8;
  assert.ok(delays.every((d) => d >= ceiling / 2 && d <= ceiling));
  // Ten buckets of the window [4 s, 8 s]: each holds roughly a tenth, none the whole herd.
  const buckets = new Array(10).fill(0);
  for (const d of delays) buckets[Math.min(9, Math.floor(((d - ceiling / 2) / (ceiling / 2)) * 10))]++;
  assert.ok(Math.max(...buckets) < 160 && Math.min(...buckets) > 50, `buckets ${buckets.join(' ')}`);
});
