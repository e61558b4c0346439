// Property-based fuzzing of frame decoding (fast-check): valid frames of every width are
// truncated, extended, overwritten field by field and bit-flipped; random bytes are fed
// whole. Every malformed frame must be refused with a named IdlegradError (no other
// exception, no allocation sized by the frame), and whatever decodes must satisfy the
// frame's invariants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeFrame, encodeAggregate, encodeUpdate, frameLimits, type DecodedFrame } from './codec.ts';
import { CHUNK_ENTRY, FRAME_HEADER, type ValueBits } from './wire/frame.ts';
import { IdlegradError } from './errors.ts';

const pth = `0x${'5a'.repeat(32)}` as const;
const n = 700; // three chunks, the last one short
const chunkSize = 256;
const CODES = new Set(['BAD_FRAME', 'SCHEMA_MISMATCH', 'LIMIT_EXCEEDED', 'WRONG_RUN', 'STALE_ROUND']);

const vector = fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));
const bits = fc.constantFrom<ValueBits>(2, 4, 8, 32);
/** A valid frame (update of some width, or aggregate) with the limits it was made for. */
const validFrame = fc
  .record({ v: vector, bits, aggregate: fc.boolean(), round: fc.nat(1000), samples: fc.nat(5000) })
  .map(({ v, bits, aggregate, round, samples }) => {
    const codec = { density: 0.1, bits, chunkSize };
    const args = { paramTableHash: pth, run: 9, round, samples };
    const bytes = aggregate ? encodeAggregate(v, chunkSize, args) : encodeUpdate(v, codec, args).bytes;
    return {
      bytes,
      limits: frameLimits({ paramTableHash: pth, paramCount: n, run: 9, codec: { ...codec, bits: aggregate ? 4 : bits }, maxSamples: 5000, round }),
    };
  });

/** Header fields where any other value is invalid for these limits: [offset, size]. */
const H = FRAME_HEADER.at;
const STRICT_FIELDS: [string, number, number][] = [
  ['magic', H.magic, 4],
  ['version', H.version, 1],
  ['reserved', H.indexCoding, 1],
  ['paramTableHash', H.paramTableHash, 32],
  ['run', H.run, 4],
  ['round', H.round, 4],
  ['paramCount', H.paramCount, 4],
  ['chunkSize', H.chunkSize, 4],
  ['chunkCount', H.chunkCount, 4],
  ['totalK', H.totalK, 4],
];

let malformed = 0;
function refused(bytes: Uint8Array, limits: Parameters<typeof decodeFrame>[1], what: string): void {
  malformed++;
  assert.throws(
    () => decodeFrame(bytes, limits),
    (e: unknown) => e instanceof IdlegradError && CODES.has(e.code) && e.shortMessage.length > 10,
    `${what} must be refused with a named frame error`,
  );
}
function checkInvariants(f: DecodedFrame, limits: Parameters<typeof decodeFrame>[1]): void {
  assert.equal(f.header.paramCount, limits.paramCount);
  assert.equal(f.indices.length, f.header.totalK);
  for (let i = 0; i < f.indices.length; i++) {
    assert.ok(f.indices[i] < n && (i === 0 || f.indices[i] > f.indices[i - 1]), 'indices ascend inside the model');
    assert.ok(Number.isFinite(f.values[i]));
  }
}

test('truncated and extended frames are refused by name', () => {
  fc.assert(
    fc.property(validFrame, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 }), ({ bytes, limits }, cut, extra) => {
      refused(bytes.subarray(0, cut % bytes.byteLength), limits, `a frame cut to ${cut % bytes.byteLength} of ${bytes.byteLength} bytes`);
      const longer = new Uint8Array(bytes.byteLength + extra.length);
      longer.set(bytes);
      longer.set(extra, bytes.byteLength);
      refused(longer, limits, `a frame extended by ${extra.length} bytes`);
    }),
    { numRuns: 400 },
  );
});

test('any other value in a strict header field is refused by name', () => {
  fc.assert(
    fc.property(validFrame, fc.constantFrom(...STRICT_FIELDS), fc.uint8Array({ minLength: 32, maxLength: 32 }), ({ bytes, limits }, [name, at, size], junk) => {
      const bad = bytes.slice();
      bad.set(junk.subarray(0, size), at);
      if (bad.subarray(at, at + size).every((b, i) => b === bytes[at + i])) bad[at] ^= 1; // must differ
      if (name === 'version' && bad[H.version] === 1 && bytes[H.indexCoding] === 0) {
        // Version 1 is version 2 with byte 7 reserved as 0: the same frame, decoded alike.
        checkInvariants(decodeFrame(bad, limits), limits);
        return;
      }
      refused(bad, limits, `header field ${name} overwritten`);
    }),
    { numRuns: 1500 },
  );
});

test('bad widths, kinds, chunk tables and scales are refused by name', () => {
  fc.assert(
    fc.property(
      validFrame,
      fc.nat(2),
      fc.integer({ min: 0, max: 255 }),
      fc.nat(),
      fc.float({ noDefaultInfinity: false }),
      ({ bytes, limits }, chunk, byte, k, scale) => {
        const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
        const kind = bytes.slice();
        kind[H.kind] = byte === 1 || byte === 2 ? 3 : byte;
        refused(kind, limits, `frame kind ${kind[H.kind]}`);
        const width = bytes.slice();
        width[H.bits] = [2, 4, 8, 32].includes(byte) ? 3 : byte;
        refused(width, limits, `value width ${width[H.bits]}`);
        const table = bytes.slice();
        const at = FRAME_HEADER.bytes + CHUNK_ENTRY.bytes * chunk;
        const was = dv(table).getUint32(at, true);
        dv(table).setUint32(at, was === k ? k + 1 : k, true);
        refused(table, limits, `chunk ${chunk} count changed`);
        const isFloat = bytes[H.bits] === 32;
        const badScale = isFloat ? (scale === 0 || Number.isNaN(scale) ? 1 : scale) : scale < 0 || !Number.isFinite(scale) ? scale : -1 - Math.abs(scale);
        const sc = bytes.slice();
        dv(sc).setFloat32(at + 4, badScale, true);
        refused(sc, limits, `chunk ${chunk} scale ${badScale}`);
      },
    ),
    { numRuns: 500 },
  );
});

test('random bytes and bit flips: refused by name, or a frame that keeps every invariant', () => {
  let decoded = 0;
  fc.assert(
    fc.property(validFrame, fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), ({ bytes, limits }, flips) => {
      const bad = bytes.slice();
      for (const f of flips) bad[(f >> 3) % bad.byteLength] ^= 1 << (f & 7);
      try {
        checkInvariants(decodeFrame(bad, limits), limits);
        decoded++; // a flip inside a value or a kept index can leave a valid frame
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof IdlegradError && CODES.has(e.code), `unexpected ${String(e)}`);
        malformed++;
      }
    }),
    { numRuns: 1500 },
  );
  const limits = frameLimits({ paramTableHash: pth, paramCount: n, run: 9, codec: { density: 0.1, bits: 4, chunkSize }, maxSamples: 5000 });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => refused(b, limits, 'random bytes')),
    { numRuns: 400 },
  );
  console.log(`codec fuzz: ${malformed} malformed frames refused by name (${decoded} bit-flipped frames still valid and consistent)`);
  assert.ok(malformed >= 5000, `at least 5,000 malformed frames, got ${malformed}`);
});
