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
  multiproofNodes,
  openResidual,
  openingBytes,
  proofLength,
  residualCommitment,
  residualDigest,
  residualLeafCount,
  residualRoot,
  ResidualTree,
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
      assert.equal(o.proof.byteLength, 32 * proofLength(i, count));
      assert.equal(residualDigest(o), root, `n ${n}, leaf ${i}`);
      const changed: ResidualOpening = { ...o, leaves: [{ ...o.leaves[0], values: o.leaves[0].values.map((x, j) => (j === 0 ? x + 1e-7 : x)) }] };
      assert.notEqual(residualDigest(changed), root);
      if (o.proof.byteLength) {
        const proof = o.proof.slice();
        proof[0] ^= 1;
        assert.notEqual(residualDigest({ ...o, proof }), root);
      }
    }
    // Every set of leaves (all subsets for up to 9 leaves) opens with one multiproof that proves
    // the root; each carried hash is needed (flip any byte of it: another root).
    for (let mask = 1; mask < 1 << count; mask++) {
      const leaves = Array.from({ length: count }, (_, i) => i).filter((i) => mask & (1 << i));
      const o = openResidual(e, leaves);
      assert.equal(o.proof.byteLength, 32 * multiproofNodes(leaves, count).length);
      assert.ok(o.proof.byteLength <= leaves.reduce((b, i) => b + 32 * proofLength(i, count), 0));
      assert.equal(residualDigest(o), root, `n ${n}, leaves ${leaves}`);
      for (let h = 0; h < o.proof.byteLength; h += 32) {
        const proof = o.proof.slice();
        proof[h + 31] ^= 0x80;
        assert.notEqual(residualDigest({ ...o, proof }), root, `n ${n}, leaves ${leaves}, hash ${h / 32}`);
      }
    }
    // Any one changed value anywhere changes the root.
    const other = e.slice();
    other[n - 1] = Math.fround(other[n - 1] + 1e-3);
    assert.notEqual(residualRoot(other), root);
  }
});

test('ResidualTree.over takes levels computed elsewhere (a worker): the same tree as build; wrong or mis-sized levels are refused, naming why', () => {
  for (const n of [1, 64, 65, 7 * RESIDUAL_LEAF + 5]) {
    const e = residual(n, 9);
    const levels = ResidualTree.levelsOf(e.slice());
    const tree = ResidualTree.over(e, levels);
    assert.equal(tree.root, ResidualTree.build(e).root);
    assert.equal(tree.root, residualRoot(e));
    assert.ok(tree.serves(e, [residualLeafCount(n) - 1]));
  }
  const e = residual(7 * RESIDUAL_LEAF + 5, 9);
  const levels = ResidualTree.levelsOf(e);
  assert.throws(() => ResidualTree.over(e, levels.slice(0, -1)), /has 3 levels; a 453-value residual's has 4/);
  assert.throws(() => ResidualTree.over(e, [levels[0].subarray(32), ...levels.slice(1)]), /level 0 holds 224 bytes/);
  assert.throws(() => ResidualTree.over(residual(7 * RESIDUAL_LEAF + 5, 10), levels), /not computed over these values/);
});

test('a kept tree opens leaves that prove its root; a tree kept for a residual that changed where it opens, or for another array, is not used', () => {
  const e = residual(7 * RESIDUAL_LEAF + 5, 3);
  const tree = ResidualTree.build(e);
  const root = residualRoot(e);
  assert.equal(tree.root, root);
  assert.equal(tree.paramCount, e.length);
  const fromTree = openResidual(e, [1, 4, 7], tree);
  assert.equal(residualDigest(fromTree), root);
  assert.deepEqual(fromTree, openResidual(e, [1, 4, 7]), 'the kept tree gives the bytes a tree built now gives');
  // Changed outside the opened leaves: the kept tree still serves and proves what the report
  // committed to (a tree built now would prove another root).
  e[0] += 1;
  assert.ok(tree.serves(e, [4]));
  assert.equal(residualDigest(openResidual(e, [4], tree)), root);
  // Changed at an opened leaf: the kept tree is not used (the opening proves the values' own root).
  e[4 * RESIDUAL_LEAF + 2] += 1;
  assert.equal(tree.serves(e, [4]), false);
  const rebuilt = openResidual(e, [4], tree);
  assert.equal(residualDigest(rebuilt), residualRoot(e));
  assert.notEqual(residualDigest(rebuilt), root);
  // Another array with the same values, or the kept one after a transfer (detached, length 0): not its tree.
  const twin = residual(7 * RESIDUAL_LEAF + 5, 3);
  assert.equal(tree.serves(twin, []), false);
  assert.equal(ResidualTree.build(twin).serves(new Float32Array(0), []), false);
  // uploadFor takes the kept trees: the same body as without them, roots from the tree where it serves.
  const ev = { frame: new Uint8Array([1, 2, 3]), residualBefore: twin, residualAfter: residual(7 * RESIDUAL_LEAF + 5, 4) };
  const kept = { before: ResidualTree.build(ev.residualBefore), after: ResidualTree.build(ev.residualAfter) };
  for (const needs of [
    { before: false, after: false, leaves: [0, 7] },
    { before: false, after: true, leaves: [] },
    { before: true, after: false, leaves: [3] },
  ])
    assert.deepEqual(encodeEvidence(uploadFor(ev, needs, kept)), encodeEvidence(uploadFor(ev, needs)), JSON.stringify(needs));
});

test('an opening that mixes two residuals proves neither root; a multiproof of the wrong length or unordered leaves are refused by name', () => {
  const one = residual(1000, 1);
  const two = residual(1000, 2);
  const a = openResidual(one, [2, 5]);
  const b = openResidual(two, [2, 5]);
  const mixed = { ...a, leaves: [a.leaves[0], b.leaves[1]] };
  assert.notEqual(residualDigest(mixed), residualRoot(one));
  assert.notEqual(residualDigest(mixed), residualRoot(two));
  assert.throws(() => residualDigest({ ...a, proof: a.proof.subarray(32) }), isBadFrame(/multiproof of these leaves holds/));
  assert.throws(() => residualDigest({ ...a, leaves: [a.leaves[1], a.leaves[0]] }), isBadFrame(/strictly increase/));
  assert.throws(() => openResidual(one, [5, 2]), isBadFrame(/strictly increase/));
  assert.throws(() => residualDigest({ paramCount: 1000, leaves: [], proof: new Uint8Array(0) }), isBadFrame(/opens no leaf/));
});

test("8 leaves of the MLP's residual: the multiproof carries each shared sibling once (measured over 200 draws)", () => {
  const n = 50_890;
  const count = residualLeafCount(n);
  const rand = createRng(7);
  let separate = 0;
  let merged = 0;
  let worst = 0;
  for (let t = 0; t < 200; t++) {
    const pick = new Set<number>();
    while (pick.size < 8) pick.add(Math.floor(rand() * count));
    const leaves = [...pick].sort((x, y) => x - y);
    separate += leaves.reduce((s, i) => s + proofLength(i, count), 0);
    const m = multiproofNodes(leaves, count).length;
    merged += m;
    worst = Math.max(worst, m);
  }
  // 79 hashes apart, about 47 merged (53 at most in 2,000 draws, README).
  assert.ok(merged / 200 < 0.65 * (separate / 200), `merged ${merged / 200} against ${separate / 200}`);
  assert.ok(worst <= 56, `worst ${worst}`);
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
      // Both residuals opened at 8 leaves: under 8 KB against 407 KB in full.
      assert.ok(body.byteLength - ev.frame.byteLength < 8_000, `${body.byteLength} bytes`);
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
  assert.throws(() => decodeEvidence(good.subarray(0, 200), n), isBadFrame(/shorter than its e_b leaf 1 \(263 bytes needed\)/));
  assert.throws(() => decodeEvidence(good.subarray(0, 530), n), isBadFrame(/shorter than its e_b multiproof/));
  assert.throws(() => decodeEvidence(good.subarray(0, good.byteLength - 40), n), isBadFrame(/holds no frame/));
});
