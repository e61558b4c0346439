import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatWei, shortHash } from './format.ts';

test('formatWei shows tokens from 18-decimal wei, trimmed, never rounding a dust amount to zero', () => {
  assert.equal(formatWei('0'), '0');
  assert.equal(formatWei(10n ** 18n), '1');
  assert.equal(formatWei('1500000000000000000'), '1.5');
  assert.equal(formatWei('1234567000000000000000'), '1,234.567');
  assert.equal(formatWei('123456789'), '<0.0001');
  assert.equal(formatWei('1999999999999999999'), '1.9999');
  assert.equal(formatWei(null), '0');
});

test('shortHash and formatBytes', () => {
  assert.equal(shortHash('0x' + 'ab'.repeat(32)), '0xababab…abab');
  assert.equal(shortHash(null), '—');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(20 * 1024 * 1024), '20.0 MiB');
});
