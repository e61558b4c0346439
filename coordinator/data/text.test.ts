import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitText, loadTextCorpus } from './text.ts';

test('a text splits into overlapping training windows and capped, disjoint held-out windows', () => {
  const text = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const { train, test: held } = splitText(text, { T: 8, maxHeldOutWindows: 5 });
  assert.equal(train.features, 9);
  assert.equal(train.count, Math.floor((900 - 9) / 4) + 1);
  assert.equal(held.count, 5);
  assert.equal(held.images.length, 45);
  assert.equal(held.images[0], 900 % 251, 'held-out windows start at the held-out bytes');
  assert.throws(() => splitText(text.subarray(0, 50), { T: 8 }), /50 bytes are too few for windows of 9 bytes/);
  assert.throws(() => loadTextCorpus('/nonexistent/corpus.txt', { T: 8 }), /IDLEGRAD_TEXT: cannot read \/nonexistent\/corpus.txt/);
});

test('a held-out sample: windows drawn with the seed from the whole split, in text order, the same for every party', () => {
  const text = Uint8Array.from({ length: 4000 }, (_, i) => (i * 7) % 251);
  const whole = splitText(text, { T: 8, maxHeldOutWindows: 1000 }).test;
  assert.equal(whole.count, 49);
  const a = splitText(text, { T: 8, sample: { windows: 6, seed: 3 } }).test;
  assert.deepEqual(splitText(text, { T: 8, sample: { windows: 6, seed: 3 } }).test, a, 'the same seed gives the same windows');
  assert.equal(a.count, 6);
  assert.equal(a.images.length, 6 * 9);
  // Every sampled window is one of the split's, in increasing order, and some lie past the first 32.
  const starts = Array.from({ length: 6 }, (_, k) => {
    const w = a.images.subarray(k * 9, k * 9 + 9);
    return [...Array(whole.count).keys()].find((i) => whole.images.subarray(i * 9, i * 9 + 9).every((b, j) => b === w[j]))!;
  });
  assert.ok(
    starts.every((i, k) => i !== undefined && (k === 0 || i > starts[k - 1])),
    `windows ${starts}`,
  );
  assert.ok(
    starts.some((i) => i >= 32),
    `windows ${starts}`,
  );
  assert.notDeepEqual(splitText(text, { T: 8, sample: { windows: 6, seed: 4 } }).test.images, a.images, 'another seed, other windows');
  assert.equal(splitText(text, { T: 8, sample: { windows: 500, seed: 3 } }).test.count, 49, 'never more than the split holds');
});
