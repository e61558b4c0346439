import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHUNK_ENTRY,
  FRAME_HEADER,
  FRAME_MAGIC,
  FRAME_VERSION,
  FrameKind,
  readChunkEntry,
  readFrameHeader,
  writeChunkEntry,
  writeFrameHeader,
  type FrameHeader,
} from './frame.ts';

test('the header offsets are the ones documented in shared/codec.ts (version 2), derived from the field sizes', () => {
  assert.deepEqual(FRAME_HEADER.at, {
    magic: 0,
    version: 4,
    kind: 5,
    bits: 6,
    indexCoding: 7,
    paramTableHash: 8,
    run: 40,
    round: 44,
    samples: 48,
    paramCount: 52,
    chunkSize: 56,
    chunkCount: 60,
    totalK: 64,
  });
  assert.equal(FRAME_HEADER.bytes, 68);
  assert.deepEqual(CHUNK_ENTRY, { at: { k: 0, scale: 4 }, bytes: 8 });
});

test('the one header writer and the one reader agree field by field', () => {
  const h: FrameHeader = {
    kind: FrameKind.aggregate,
    bits: 32,
    indexCoding: 'u16',
    paramTableHash: `0x${'5a'.repeat(32)}`,
    run: 3,
    round: 0xfffffffe,
    samples: 1234,
    paramCount: 50_890,
    chunkSize: 4096,
    chunkCount: 13,
    totalK: 777,
  };
  const bytes = new Uint8Array(FRAME_HEADER.bytes + 2 * CHUNK_ENTRY.bytes);
  writeFrameHeader(bytes, h);
  const dv = new DataView(bytes.buffer);
  writeChunkEntry(dv, 1, 42, 0.5);
  assert.deepEqual(readFrameHeader(bytes), { ...h, magic: FRAME_MAGIC, version: FRAME_VERSION, kind: 2, bits: 32, indexCoding: 0 });
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'IDLG');
  assert.deepEqual(readChunkEntry(dv, 1), { k: 42, scale: 0.5 });
  assert.equal(dv.getUint32(FRAME_HEADER.bytes + CHUNK_ENTRY.bytes + CHUNK_ENTRY.at.k, true), 42);
  // A header inside a larger buffer reads the same.
  const inside = new Uint8Array(bytes.byteLength + 5);
  inside.set(bytes, 5);
  assert.deepEqual(readFrameHeader(inside.subarray(5)), readFrameHeader(bytes));
});
