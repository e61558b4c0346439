import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, gaussian } from './rng.ts';
import { decodeFrame, encodeAggregate, encodeUpdate, frameLimits, hashFrame, kPerChunk, toDense, FRAME_HEADER_BYTES } from './codec.ts';
import { isIdlegradError } from './errors.ts';
import { maxUpdateFrameBytes } from './p2p.ts';

const pth = `0x${'11'.repeat(32)}` as const;
const codec = { density: 0.05, bits: 8 as const, chunkSize: 1000 };
const n = 2503; // not a chunk multiple
const limits = frameLimits({ paramTableHash: pth, paramCount: n, run: 7, codec, maxSamples: 1000, round: 3 });
const randomVector = (seed: number) => {
  const r = createRng(seed);
  return Float32Array.from({ length: n }, () => gaussian(r));
};
const args = { paramTableHash: pth, run: 7, round: 3, samples: 64 };

test('update frame: top-k per chunk, int8 round trip, residual = v − decode(frame)', () => {
  const v = randomVector(1);
  const { bytes, residual } = encodeUpdate(v, codec, args);
  const f = decodeFrame(bytes, limits);
  assert.equal(f.header.totalK, kPerChunk(codec, 1000) * 2 + kPerChunk(codec, 503));
  assert.ok(bytes.byteLength <= maxUpdateFrameBytes(n, codec.chunkSize, limits.maxUpdateK, 8));
  const dense = toDense(f);
  for (let i = 0; i < n; i++) assert.equal(Math.fround(dense[i] + residual[i]), Math.fround(v[i]), `index ${i}`);
  // The kept values are the largest of each chunk.
  const kept = new Set(f.indices);
  const chunk0 = [...v.subarray(0, 1000)].map(Math.abs).sort((a, b) => b - a);
  for (const i of f.indices) if (i < 1000) assert.ok(Math.abs(v[i]) >= chunk0[kPerChunk(codec, 1000) - 1]);
  assert.ok(kept.size === f.indices.length);
  // Quantization error per value is at most half a step.
  for (let k = 0; k < f.indices.length; k++) assert.ok(Math.abs(f.values[k] - v[f.indices[k]]) <= 1.01 * (Math.abs(chunk0[0]) / 127));
});

test('error feedback: repeated encoding of a constant signal transmits all of it', () => {
  const v = randomVector(2);
  let e: Float32Array = new Float32Array(n);
  const sent = new Float32Array(n);
  for (let round = 0; round < 40; round++) {
    const x = v.map((vi, i) => (round === 0 ? vi : 0) + e[i]);
    const { bytes, residual } = encodeUpdate(x, codec, args);
    toDense(decodeFrame(bytes, limits)).forEach((d, i) => (sent[i] += d));
    e = residual;
  }
  let err = 0;
  for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(sent[i] + e[i] - v[i]));
  assert.ok(err < 1e-4, `sent + residual equals the signal (max err ${err})`);
});

test('aggregate frames are exact float32', () => {
  const v = randomVector(3).map((x, i) => (i % 3 ? 0 : x));
  const f = decodeFrame(encodeAggregate(v, codec.chunkSize, args), limits);
  assert.deepEqual(toDense(f), v);
  assert.equal(f.header.kind, 2);
});

test('decoding refuses every malformed frame with a named reason', () => {
  const good = encodeUpdate(randomVector(4), codec, args).bytes;
  const mutate = (fn: (b: Uint8Array, dv: DataView) => void) => {
    const b = good.slice();
    fn(b, new DataView(b.buffer));
    return b;
  };
  const cases: [string, Uint8Array, string, typeof limits?][] = [
    ['short', good.subarray(0, 10), 'BAD_FRAME'],
    ['magic', mutate((b) => (b[0] = 0)), 'BAD_FRAME'],
    ['version', mutate((b) => (b[4] = 9)), 'SCHEMA_MISMATCH'],
    ['table hash', mutate((b) => (b[8] ^= 1)), 'SCHEMA_MISMATCH'],
    ['run', mutate((_, dv) => dv.setUint32(40, 8, true)), 'WRONG_RUN'],
    ['round', mutate((_, dv) => dv.setUint32(44, 2, true)), 'STALE_ROUND'],
    ['samples', mutate((_, dv) => dv.setUint32(48, 5000, true)), 'LIMIT_EXCEEDED'],
    ['paramCount', mutate((_, dv) => dv.setUint32(52, n + 1, true)), 'LIMIT_EXCEEDED'],
    ['chunkSize', mutate((_, dv) => dv.setUint32(56, 65536, true)), 'LIMIT_EXCEEDED'],
    ['chunkCount', mutate((_, dv) => dv.setUint32(60, 1_000_000, true)), 'LIMIT_EXCEEDED'],
    ['totalK past limit', mutate((_, dv) => dv.setUint32(64, 0xffffffff, true)), 'LIMIT_EXCEEDED'],
    ['truncated', good.subarray(0, good.byteLength - 1), 'BAD_FRAME'],
    ['chunk k past limit', mutate((_, dv) => dv.setUint32(FRAME_HEADER_BYTES, 999, true)), 'LIMIT_EXCEEDED'],
    ['nan scale', mutate((_, dv) => dv.setFloat32(FRAME_HEADER_BYTES + 4, NaN, true)), 'BAD_FRAME'],
    ['index order', mutate((_, dv) => dv.setUint16(FRAME_HEADER_BYTES + 24, 0xffff, true)), 'BAD_FRAME'],
  ];
  for (const [name, bytes, code] of cases) {
    assert.throws(() => decodeFrame(bytes, limits), (e) => isIdlegradError(e) && e.code === code, name);
  }
  assert.equal(hashFrame(good), hashFrame(good.slice()));
});
