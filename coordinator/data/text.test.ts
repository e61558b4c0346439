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
