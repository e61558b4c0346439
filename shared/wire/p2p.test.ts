import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHandshake, FrameAssembler, P2P_CHUNK, P2P_CHUNK_BYTES, parseHandshake, parsePeerMessage, splitFrame } from './p2p.ts';
import { isIdlegradError } from '../errors.ts';

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
  assert.throws(
    () => new FrameAssembler(1, 40_000).push(chunks[0]),
    (e) => isIdlegradError(e, 'LIMIT_EXCEEDED'),
  );
  assert.throws(
    () => new FrameAssembler(2, 1e6).push(chunks[0]),
    (e) => isIdlegradError(e, 'STALE_ROUND'),
  );
  const asm = new FrameAssembler(1, 1e6);
  asm.push(chunks[0]);
  assert.throws(
    () => asm.push(chunks[2]),
    (e) => isIdlegradError(e, 'BAD_FRAME'),
  );
});

test('the chunk header is written at its named offsets', () => {
  const [c] = splitFrame(new Uint8Array(100).fill(7), 9);
  const dv = new DataView(c.buffer);
  assert.deepEqual(
    [
      dv.getUint8(P2P_CHUNK.tag),
      dv.getUint32(P2P_CHUNK.round, true),
      dv.getUint32(P2P_CHUNK.seq, true),
      dv.getUint32(P2P_CHUNK.count, true),
      dv.getUint32(P2P_CHUNK.totalBytes, true),
    ],
    [1, 9, 0, 1, 100],
  );
  assert.equal(c.byteLength, P2P_CHUNK.payload + 100);
  assert.ok(c.subarray(P2P_CHUNK.payload).every((b) => b === 7));
});

test('a handshake round-trips, and a malformed one is refused naming the field', () => {
  const h = { address: `0x${'ab'.repeat(20)}` as const, peerId: 'ig-1', round: 3, signature: `0x${'cd'.repeat(65)}` as const };
  assert.deepEqual(parseHandshake(encodeHandshake(h)), h);
  assert.deepEqual(parsePeerMessage(encodeHandshake(h)), { type: 'handshake', handshake: h });
  const [bytes] = splitFrame(new Uint8Array(30), 9);
  assert.deepEqual(parsePeerMessage(bytes), { type: 'chunk', round: 9, bytes });
  assert.throws(
    () => parsePeerMessage(new Uint8Array(P2P_CHUNK.payload - 1)),
    (e) => isIdlegradError(e, 'BAD_FRAME') && /outside/.test(e.message),
  );
  const bad = (over: Record<string, unknown>) => () => parseHandshake(JSON.stringify({ ...h, ...over }));
  assert.throws(
    () => parseHandshake('nope'),
    (e) => isIdlegradError(e, 'BAD_MESSAGE') && /handshake is not valid JSON/.test(e.message),
  );
  assert.throws(bad({ address: '0x1' }), /handshake\.address: expected an address/);
  assert.throws(bad({ peerId: 'x'.repeat(65) }), /handshake\.peerId: expected a string of at most 64/);
  assert.throws(bad({ round: -1 }), /handshake\.round: expected a uint32/);
  assert.throws(bad({ signature: '0x' }), /handshake\.signature: expected a 65-byte hex signature/);
  assert.throws(() => parsePeerMessage('[]'), /handshake: expected an object/);
});
