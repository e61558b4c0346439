import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatCount, formatNumber, formatWei, shortHash } from './format.ts';

test('formatWei shows tokens from 18-decimal wei, trimmed, never rounding a dust amount to zero', () => {
  const en = (w: Parameters<typeof formatWei>[0]) => formatWei(w, 4, 18, 'en-US');
  assert.equal(en('0'), '0');
  assert.equal(en(10n ** 18n), '1');
  assert.equal(en('1500000000000000000'), '1.5');
  assert.equal(en('1234567000000000000000'), '1,234.567');
  assert.equal(en('123456789'), '<0.0001');
  assert.equal(en('1999999999999999999'), '1.9999');
  assert.equal(en(null), '0');
  // Exact beyond float precision, grouped in the reader's language.
  assert.equal(en('123456789012345678901234567000000000000000'), '123,456,789,012,345,678,901,234.567');
});

test("numbers in the reader's language (Intl)", () => {
  assert.equal(formatWei('1234567000000000000000', 4, 18, 'de-DE'), '1.234,567');
  assert.equal(formatWei('123456789', 4, 18, 'de-DE'), '<0,0001');
  assert.equal(formatCount(1234567, 'fr-FR'), '1\u202f234\u202f567');
  assert.equal(formatNumber(1234.56, 1, 'de-DE'), '1.234,6');
  assert.equal(formatCount(1234567, 'en-US'), '1,234,567');
});

test('shortHash and formatBytes', () => {
  assert.equal(shortHash('0x' + 'ab'.repeat(32)), '0xababab…abab');
  assert.equal(shortHash(null), '—');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(20 * 1024 * 1024), '20.0 MiB');
});
