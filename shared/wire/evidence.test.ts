// The residual commitment's Merkle tree and the evidence body: leaves open and prove the root
// they were cut from, every tampering is refused by name, bodies round-trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../rng.ts';
import { IdlegradError } from '../errors.ts';
import {
  decodeEvidence,
  encodeEvidence,
  meetsNeeds,
  openResidual,
  proofLength,
  residualCommitment,
  residualDigest,
  residualLeafCount,
  residualRoot,
  uploadFor,
  RESIDUAL_LEAF,
  type ResidualOpening,
} from './evidence.ts';

const residual = (n: number, seed: number) => {
  const rand = createRng(seed);
  return Float32Array.from({ length: n }, () => rand() - 0.5);
};
const isBadFrame = (pattern: RegExp) => (e: unknown) => e instanceof IdlegradError && e.code === 'BAD_FRAME' && pattern.test(e.message);

test('every leaf of trees of 1 to 9 leaves (odd levels carried up) opens and proves the root; a changed value or proof does not', () => {
  for (const n of [1, RESIDUAL_LEAF, RESIDUAL_LEAF + 1, 3 * RESIDUAL_LEAF - 5, 5 * RESIDUAL_LEAF, 9 * RESIDUAL_LEAF - 1]) {
    const e = residual(n, n);
    const root = residualRoot(e);
    const count = residualLeafCount(n);
    for (let i = 0; i < count; i++) {
      const o = openResidual(e, [i]);
      assert.equal(o.leaves[0].proof.byteLength, 32 * proofLength(i, count));
      assert.equal(residualDigest(o), root, `n ${n}, leaf ${i}`);
      const changed: ResidualOpening = { ...o, leaves: [{ ...o.leaves[0], values: o.leaves[0].values.map((x, j) => (j === 0 ? x + 1e-7 : x)) }] };
      assert.notEqual(residualDigest(changed), root);
      if (o.leaves[0].proof.byteLength) {
        const proof = o.leaves[0].proof.slice();
        proof[0] ^= 1;
        assert.notEqual(residualDigest({ ...o, leaves: [{ ...o.leaves[0], proof }] }), root);
      }
    }
    // Any one changed value anywhere changes the root.
    const other = e.slice();
    other[n - 1] = Math.fround(other[n - 1] + 1e-3);
    assert.notEqual(residualRoot(other), root);
  }
});

test('leaves from two different residuals prove different roots: refused by name', () => {
  const a = openResidual(residual(1000, 1), [2]);
  const b = openResidual(residual(1000, 2), [5]);
  assert.throws(() => residualDigest({ paramCount: 1000, leaves: [...a.leaves, ...b.leaves] }), isBadFrame(/different roots/));
  assert.throws(() => residualDigest({ paramCount: 1000, leaves: [] }), isBadFrame(/opens no leaf/));
});

test('evidence bodies round-trip in each mode, meet exactly the needs they were made for, and are far smaller opened than in full', () => {
  const n = 50_890; // the MNIST MLP
  const ev = { frame: Uint8Array.from({ length: 1816 }, (_, i) => i & 255), residualBefore: residual(n, 3), residualAfter: residual(n, 4) };
  const committed = residualCommitment(ev.residualBefore, ev.residualAfter);
  const leaves = [3, 17, 100, 250, 400, 555, 700, residualLeafCount(n) - 1];
  for (const needs of [
    { before: true, after: true, leaves: [] },
    { before: false, after: false, leaves: [] },
    { before: false, after: false, leaves },
    { before: true, after: false, leaves },
  ]) {
    const body = encodeEvidence(uploadFor(ev, needs));
    const back = decodeEvidence(body, n);
    assert.deepEqual(back.frame, ev.frame);
    assert.equal(residualCommitment(back.before, back.after), committed, JSON.stringify(needs));
    assert.ok(meetsNeeds(back, needs));
    if (needs.leaves.length && !needs.before) {
      assert.ok(!meetsNeeds(back, { ...needs, leaves: leaves.slice(1) }), 'other leaves than asked');
      assert.ok(!meetsNeeds(back, { ...needs, before: true }), 'e_b asked in full');
      // Both residuals opened at 8 leaves: under 10 KB against 407 KB in full.
      assert.ok(body.byteLength - ev.frame.byteLength < 10_000, `${body.byteLength} bytes`);
    }
  }
});

test('malformed opened parts are refused by name before anything is sliced', () => {
  const n = 1000;
  const ev = { frame: new Uint8Array(40).fill(7), residualBefore: residual(n, 5), residualAfter: residual(n, 6) };
  const good = encodeEvidence(uploadFor(ev, { before: false, after: false, leaves: [1, 4] }));
  // modes 0b1010: both opened; e_b's count at bytes 1–2, its first index at 3–6.
  assert.equal(good[0], 0b1010);
  const set = (at: number, bytes: number[]) => {
    const b = good.slice();
    b.set(bytes, at);
    return b;
  };
  assert.throws(() => decodeEvidence(set(1, [0, 0]), n), isBadFrame(/opens 0 leaves/));
  assert.throws(() => decodeEvidence(set(3, [99, 0, 0, 0]), n), isBadFrame(/indices must increase and stay under 16/));
  assert.throws(() => decodeEvidence(set(0, [0b1111]), n), isBadFrame(/modes 0xf/));
  assert.throws(() => decodeEvidence(good.subarray(0, 300), n), isBadFrame(/shorter than its e_b leaf 1 \(391 bytes needed\)/));
  assert.throws(() => decodeEvidence(good.subarray(0, good.byteLength - 40), n), isBadFrame(/holds no frame/));
});
