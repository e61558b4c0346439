// The combine inputs kept for auditors: the newest rounds within the byte budget, oldest dropped first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { CombineInputs } from './combine-inputs.ts';

const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
const frames = (round: number, count: number, size: number) =>
  new Map(Array.from({ length: count }, (_, i) => [h(round * 100 + i), new Uint8Array(size).fill(round)]));

test('rounds are kept newest first within the byte budget; a round is read back by hash, any other hash or round is null', () => {
  const kept = new CombineInputs(1_000);
  kept.note(0, frames(0, 2, 300));
  kept.note(1, frames(1, 1, 300));
  assert.equal(kept.heldBytes, 900);
  assert.deepEqual(kept.get(0, h(1)), new Uint8Array(300).fill(0));
  assert.equal(kept.get(1, h(1)), null, 'a hash of another round');
  assert.equal(kept.get(2, h(200)), null, 'a round not noted');
  // Round 2 takes the total to 1,200 B: round 0 (600 B) leaves, round 1 stays.
  kept.note(2, frames(2, 1, 300));
  assert.equal(kept.heldBytes, 600);
  assert.equal(kept.get(0, h(0)), null);
  assert.deepEqual(kept.get(2, h(200)), new Uint8Array(300).fill(2));
  assert.deepEqual(kept.get(1, h(100).toUpperCase().replace('0X', '0x') as Hex), new Uint8Array(300).fill(1), 'hashes compare lower-case');
  // A round larger than the whole budget is not kept, and takes the others with it.
  kept.note(3, frames(3, 1, 2_000));
  assert.equal(kept.get(3, h(300)), null);
  assert.equal(kept.heldBytes, 0);
});
