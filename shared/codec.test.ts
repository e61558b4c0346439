import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, gaussian } from './rng.ts';
import {
  decodeFrame,
  encodeAggregate,
  encodeDenseUpdate,
  codecAtRound,
  encodeUpdate,
  frameBytes,
  frameLimits,
  hashFrame,
  kPerChunk,
  riceBits,
  riceFrameBytes,
  toDense,
} from './codec.ts';
import { CHUNK_ENTRY, FRAME_HEADER } from './wire/frame.ts';

const H = FRAME_HEADER.at;
const CHUNKS = FRAME_HEADER.bytes;
import { DEFAULT_RUN, validateRunSettings } from './config.ts';
import { isIdlegradError } from './errors.ts';
import { maxUpdateFrameBytes } from './codec.ts';

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
    ['magic', mutate((b) => (b[H.magic] = 0)), 'BAD_FRAME'],
    ['version', mutate((b) => (b[H.version] = 9)), 'SCHEMA_MISMATCH'],
    ['table hash', mutate((b) => (b[H.paramTableHash] ^= 1)), 'SCHEMA_MISMATCH'],
    ['run', mutate((_, dv) => dv.setUint32(H.run, 8, true)), 'WRONG_RUN'],
    ['round', mutate((_, dv) => dv.setUint32(H.round, 2, true)), 'STALE_ROUND'],
    ['samples', mutate((_, dv) => dv.setUint32(H.samples, 5000, true)), 'LIMIT_EXCEEDED'],
    ['paramCount', mutate((_, dv) => dv.setUint32(H.paramCount, n + 1, true)), 'LIMIT_EXCEEDED'],
    ['chunkSize', mutate((_, dv) => dv.setUint32(H.chunkSize, 65536, true)), 'LIMIT_EXCEEDED'],
    ['chunkCount', mutate((_, dv) => dv.setUint32(H.chunkCount, 1_000_000, true)), 'LIMIT_EXCEEDED'],
    ['totalK past limit', mutate((_, dv) => dv.setUint32(H.totalK, 0xffffffff, true)), 'LIMIT_EXCEEDED'],
    ['truncated', good.subarray(0, good.byteLength - 1), 'BAD_FRAME'],
    ['chunk k past limit', mutate((_, dv) => dv.setUint32(CHUNKS + CHUNK_ENTRY.at.k, 999, true)), 'LIMIT_EXCEEDED'],
    ['nan scale', mutate((_, dv) => dv.setFloat32(CHUNKS + CHUNK_ENTRY.at.scale, NaN, true)), 'BAD_FRAME'],
    ['index order', mutate((_, dv) => dv.setUint16(CHUNKS + 3 * CHUNK_ENTRY.bytes, 0xffff, true)), 'BAD_FRAME'],
  ];
  for (const [name, bytes, code] of cases) {
    assert.throws(
      () => decodeFrame(bytes, limits),
      (e) => isIdlegradError(e) && e.code === code,
      name,
    );
  }
  assert.equal(hashFrame(good), hashFrame(good.slice()));
});

for (const bits of [2, 4, 8] as const) {
  const c = { ...codec, bits };
  const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 7, codec: c, maxSamples: 1000, round: 3 });
  test(`${bits}-bit values: packed size, round trip, residual = v − decode(frame) exactly`, () => {
    const v = randomVector(10 + bits);
    const { bytes, residual } = encodeUpdate(v, c, args);
    const f = decodeFrame(bytes, lim);
    const K = f.header.totalK;
    assert.equal(f.header.bits, bits);
    // header + chunk table + u16 indices, aligned, then ⌈K·bits/8⌉ bytes of values.
    assert.equal(bytes.byteLength, ((FRAME_HEADER.bytes + CHUNK_ENTRY.bytes * 3 + 2 * K + 3) & ~3) + Math.ceil((K * bits) / 8));
    assert.equal(bytes.byteLength, frameBytes(3, K, K, bits));
    assert.ok(bytes.byteLength <= maxUpdateFrameBytes(n, c.chunkSize, lim.maxUpdateK, bits));
    const dense = toDense(f);
    for (let i = 0; i < n; i++) assert.equal(Math.fround(dense[i] + residual[i]), Math.fround(v[i]), `index ${i}`);
    // Every code is in [−qmax, qmax], each chunk's values are multiples of its scale, and signs survive.
    const qmax = (1 << (bits - 1)) - 1;
    for (let k = 0; k < K; k++) {
      assert.ok(Math.sign(f.values[k]) === Math.sign(v[f.indices[k]]) || f.values[k] === 0, `sign at ${f.indices[k]}`);
    }
    const chunk0 = [...f.values.subarray(0, kPerChunk(c, 1000))];
    const scale = Math.max(...chunk0.map(Math.abs)) / qmax;
    for (const x of chunk0) assert.ok(Math.abs(x / scale - Math.round(x / scale)) < 1e-4 && Math.abs(x / scale) <= qmax + 1e-4);
    // Re-encoding the decoded values gives the same bytes (one encoding per value).
    assert.deepEqual(encodeUpdate(dense, c, args).bytes, bytes);
  });

  test(`${bits}-bit values: malformed frames are refused with a named reason`, () => {
    const good = encodeUpdate(randomVector(20 + bits), c, args).bytes;
    const K = decodeFrame(good, lim).header.totalK;
    const valStart = good.byteLength - Math.ceil((K * bits) / 8);
    const mutate = (fn: (b: Uint8Array, dv: DataView) => void) => {
      const b = good.slice();
      fn(b, new DataView(b.buffer));
      return b;
    };
    const cases: [string, Uint8Array, string][] = [
      ['wrong width for the run', mutate((b) => (b[H.bits] = bits === 8 ? 4 : 8)), 'LIMIT_EXCEEDED'],
      ['unknown width', mutate((b) => (b[H.bits] = 3)), 'BAD_FRAME'],
      ['unknown index coding', mutate((b) => (b[H.indexCoding] = 9)), 'BAD_FRAME'],
      ['an index coding the run does not use', mutate((b) => (b[H.indexCoding] = 1)), 'LIMIT_EXCEEDED'],
      ['version 1 with a nonzero reserved byte', mutate((b) => ((b[H.version] = 1), (b[H.indexCoding] = 1))), 'BAD_FRAME'],
      ['one value short', good.subarray(0, good.byteLength - 1), 'BAD_FRAME'],
      ['one byte long', Uint8Array.from([...good, 0]), 'BAD_FRAME'],
      ['infinite scale', mutate((_, dv) => dv.setFloat32(CHUNKS + CHUNK_ENTRY.at.scale, Infinity, true)), 'BAD_FRAME'],
      ['negative scale', mutate((_, dv) => dv.setFloat32(CHUNKS + CHUNK_ENTRY.at.scale, -1, true)), 'BAD_FRAME'],
      // The most negative code (−128, −8, −2) is never written.
      ['most negative code', mutate((b) => (b[valStart] = (b[valStart] & ~((1 << bits) - 1)) | (1 << (bits - 1)))), 'BAD_FRAME'],
      ['chunk sum ≠ totalK', mutate((_, dv) => dv.setUint32(H.totalK, K - 1, true)), 'BAD_FRAME'],
    ];
    if ((K * bits) % 8 !== 0) cases.push(['nonzero bits after the last value', mutate((b) => (b[b.byteLength - 1] |= 0x80)), 'BAD_FRAME']);
    for (const [name, bytes, code] of cases) {
      assert.throws(
        () => decodeFrame(bytes, lim),
        (e) => isIdlegradError(e) && e.code === code,
        `${bits} bits: ${name}`,
      );
    }
  });
}

test('dense float32 frames imply their indices: 4 bytes a parameter plus the chunk table', () => {
  const v = randomVector(30);
  const bytes = encodeDenseUpdate(v, codec.chunkSize, args);
  const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 7, codec: { density: 1, bits: 32, chunkSize: 1000 }, maxSamples: 1000, round: 3 });
  assert.equal(bytes.byteLength, FRAME_HEADER.bytes + CHUNK_ENTRY.bytes * 3 + 4 * n);
  assert.deepEqual(toDense(decodeFrame(bytes, lim)), v);
  // The same frame is refused by a run whose update frames are sparse.
  assert.throws(
    () => decodeFrame(bytes, limits),
    (e) => isIdlegradError(e, 'LIMIT_EXCEEDED'),
  );
  // A float32 chunk may not carry a scale.
  const b = bytes.slice();
  new DataView(b.buffer).setFloat32(CHUNKS + CHUNK_ENTRY.at.scale, 1, true);
  assert.throws(
    () => decodeFrame(b, lim),
    (e) => isIdlegradError(e, 'BAD_FRAME'),
  );
});

test('codec warm-up: its rounds code at its density, later rounds at the run density, and the limits follow the round', () => {
  const warm = { ...codec, warmup: { rounds: 2, density: 0.2 } };
  const v = randomVector(2);
  const kAt = (density: number) => kPerChunk({ density }, 1000) * 2 + kPerChunk({ density }, 503);
  const limitsAt = (round?: number) => frameLimits({ paramTableHash: pth, paramCount: n, run: 7, codec: warm, maxSamples: 1000, round });
  const r1 = encodeUpdate(v, warm, { ...args, round: 1 }).bytes;
  const r2 = encodeUpdate(v, warm, { ...args, round: 2 }).bytes;
  assert.equal(decodeFrame(r1, limitsAt(1)).header.totalK, kAt(0.2));
  assert.equal(decodeFrame(r2, limitsAt(2)).header.totalK, kAt(codec.density));
  assert.deepEqual(r2, encodeUpdate(v, codec, { ...args, round: 2 }).bytes, 'after the warm-up: the bytes of the codec without one');
  // A warm-up-sized frame in a later round is too dense for that round's limits.
  const late = encodeUpdate(v, { ...warm, warmup: { rounds: 3, density: 0.2 } }, { ...args, round: 2 }).bytes;
  assert.throws(
    () => decodeFrame(late, limitsAt(2)),
    (e) => isIdlegradError(e, 'LIMIT_EXCEEDED'),
  );
  // No round known: the loosest limits, which admit both.
  assert.equal(limitsAt(undefined).maxUpdateK, kPerChunk({ density: 0.2 }, 1000));
  assert.ok(r1.byteLength <= maxUpdateFrameBytes(n, codec.chunkSize, limitsAt(undefined).maxUpdateK, 8));
  // A warm-up sparser than the run's changes nothing.
  assert.equal(codecAtRound({ ...codec, warmup: { rounds: 5, density: 0.01 } }, 0).density, codec.density);
  assert.throws(
    () => validateRunSettings({ ...DEFAULT_RUN, codec: { ...DEFAULT_RUN.codec, warmup: { rounds: 1.5, density: 0.3 } } }),
    /run\.codec\.warmup\.rounds/,
  );
  assert.throws(
    () => validateRunSettings({ ...DEFAULT_RUN, codec: { ...DEFAULT_RUN.codec, warmup: { rounds: 5, density: 2 } } }),
    /run\.codec\.warmup\.density/,
  );
});

test('the run spec validates the value width', () => {
  for (const bits of [2, 4, 8, 32]) assert.doesNotThrow(() => validateRunSettings({ ...DEFAULT_RUN, codec: { ...DEFAULT_RUN.codec, bits: bits as 8 } }));
  assert.throws(() => validateRunSettings({ ...DEFAULT_RUN, codec: { ...DEFAULT_RUN.codec, bits: 16 as 8 } }), /run\.codec\.bits/);
});

test('Rice-coded indices: the same values and offsets as u16 in about half the bytes; malformed streams are refused', () => {
  const c = { ...codec, bits: 2 as const, density: 0.03, indexCoding: 'rice' as const };
  const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 7, codec: c, maxSamples: 1000, round: 3 });
  const v = randomVector(40);
  const rice = encodeUpdate(v, c, args);
  const u16 = encodeUpdate(v, { ...c, indexCoding: 'u16' }, args);
  const fr = decodeFrame(rice.bytes, lim);
  const fu = decodeFrame(u16.bytes, { ...lim, indexCoding: 'u16' });
  assert.equal(fr.header.indexCoding, 'rice');
  assert.deepEqual(fr.indices, fu.indices);
  assert.deepEqual(fr.values, fu.values);
  assert.deepEqual(rice.residual, u16.residual);
  assert.ok(rice.bytes.byteLength < 0.7 * u16.bytes.byteLength, `rice ${rice.bytes.byteLength} B vs u16 ${u16.bytes.byteLength} B`);
  assert.ok(rice.bytes.byteLength <= maxUpdateFrameBytes(n, c.chunkSize, lim.maxUpdateK, 2, 'rice'));
  // The p2p cap holds for the costliest valid stream too: one value at the end of each chunk.
  const sparse = new Float32Array(n);
  for (const i of [999, 1999, 2502]) sparse[i] = 1;
  assert.ok(encodeUpdate(sparse, c, args).bytes.byteLength <= maxUpdateFrameBytes(n, c.chunkSize, lim.maxUpdateK, 2, 'rice'));
  const indexBytes = new DataView(rice.bytes.buffer).getUint32(FRAME_HEADER.bytes + CHUNK_ENTRY.bytes * 3, true);
  assert.equal(rice.bytes.byteLength, riceFrameBytes(3, fr.header.totalK, indexBytes, 2));
  // The parameter is integer arithmetic: 2^r ≤ ⅔ · len / k.
  assert.equal(riceBits(1000, 30), 4);
  assert.equal(riceBits(4096, 66), 5);
  assert.equal(riceBits(10, 10), 0);
  // A run on u16 indices refuses the frame by name, and so does a Rice run a u16 frame.
  assert.throws(
    () => decodeFrame(rice.bytes, limits),
    (e) => isIdlegradError(e, 'LIMIT_EXCEEDED'),
  );
  assert.throws(
    () => decodeFrame(u16.bytes, lim),
    (e) => isIdlegradError(e, 'LIMIT_EXCEEDED'),
  );
  const streamStart = FRAME_HEADER.bytes + CHUNK_ENTRY.bytes * 3 + 4;
  const mutate = (fn: (b: Uint8Array, dv: DataView) => void) => {
    const b = rice.bytes.slice();
    fn(b, new DataView(b.buffer));
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ['index stream longer than the frame', mutate((_, dv) => dv.setUint32(streamStart - 4, 1 << 30, true))],
    ['index stream length off by one', mutate((_, dv) => dv.setUint32(streamStart - 4, indexBytes + 1, true))],
    ['an all-ones stream (gaps run past the chunk)', mutate((b) => b.fill(0xff, streamStart, streamStart + indexBytes))],
    ['an all-zeros stream (repeated offsets)', mutate((b) => b.fill(0, streamStart, streamStart + indexBytes))],
    ['truncated', rice.bytes.subarray(0, streamStart + 2)],
  ];
  for (const [name, bytes] of cases)
    assert.throws(
      () => decodeFrame(bytes, lim),
      (e) => isIdlegradError(e, 'BAD_FRAME'),
      name,
    );
});
