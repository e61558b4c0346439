import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameAssembler, P2P_CHUNK_BYTES, splitFrame } from './p2p.ts';
import { isIdlegradError } from './errors.ts';

test('frames split into ≤16 KiB chunks and reassemble exactly', () => {
  const frame = Uint8Array.from({ length: 70_001 }, (_, i) => i * 31);
  const chunks = splitFrame(frame, 5);
  assert.ok(chunks.every((c) => c.byteLength <= P2P_CHUNK_BYTES));
  const asm = new FrameAssembler(5, 100_000);
  const outs = chunks.map((c) => asm.push(c));
  assert.deepEqual(outs.slice(0, -1), Array(chunks.length - 1).fill(null));
  assert.deepEqual(outs.at(-1), frame);
});

test('the receiver caps the size from its own limit, not the sender claim', () => {
  const chunks = splitFrame(new Uint8Array(50_000), 1);
  assert.throws(() => new FrameAssembler(1, 40_000).push(chunks[0]), (e) => isIdlegradError(e, 'LIMIT_EXCEEDED'));
  assert.throws(() => new FrameAssembler(2, 1e6).push(chunks[0]), (e) => isIdlegradError(e, 'STALE_ROUND'));
  const asm = new FrameAssembler(1, 1e6);
  asm.push(chunks[0]);
  assert.throws(() => asm.push(chunks[2]), (e) => isIdlegradError(e, 'BAD_FRAME'));
});
