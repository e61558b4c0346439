import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateUpdates, COPYCAT_EXHAUSTIVE, framesRoot } from './aggregate.ts';
import { aggregateUpdatesDense } from './aggregate-dense.ts';
import { decodeFrame, encodeUpdate, frameLimits, hashFrame } from './codec.ts';
import { applyOuterStep } from './outer.ts';
import { createRng, gaussian } from './rng.ts';
import { hashParams } from './model.ts';
import { DEFAULT_RUN, validateRunSettings } from './config.ts';

const pth = `0x${'22'.repeat(32)}` as const;
const codec = { density: 0.1, bits: 8 as const, chunkSize: 512 };
const n = 1500;
const limits = frameLimits({ paramTableHash: pth, paramCount: n, run: 1, codec, maxSamples: 1e6 });
const frame = (seed: number, samples: number, scale = 1) => {
  const r = createRng(seed);
  const bytes = encodeUpdate(
    Float32Array.from({ length: n }, () => gaussian(r) * scale),
    codec,
    { paramTableHash: pth, run: 1, round: 0, samples },
  ).bytes;
  return { hash: hashFrame(bytes), frame: decodeFrame(bytes, limits) };
};

test('aggregation is order-independent and bit-identical', () => {
  const us = [frame(1, 32), frame(2, 64), frame(3, 96)];
  const a = aggregateUpdates(us, n, { kind: 'clipped-mean', clip: 3 });
  const b = aggregateUpdates([us[2], us[0], us[1]], n, { kind: 'clipped-mean', clip: 3 });
  assert.deepEqual(a.dense, b.dense);
  assert.equal(a.samples, 192);
  assert.equal(framesRoot(us.map((u) => u.hash)), framesRoot(us.map((u) => u.hash).reverse()));
});

test('sample-weighted mean, and clipping bounds an outlier', () => {
  const us = [frame(1, 10), frame(1, 30)];
  const m = aggregateUpdates(us, n, { kind: 'mean', clip: 0 });
  const i = us[0].frame.indices[0];
  assert.ok(Math.abs(m.dense[i] - us[0].frame.values[0]) < 1e-6, 'equal updates average to themselves');
  const honest = [frame(1, 10), frame(2, 10), frame(3, 10)];
  const attacker = frame(4, 10, 1000);
  const plain = aggregateUpdates([...honest, attacker], n, { kind: 'mean', clip: 0 });
  const clipped = aggregateUpdates([...honest, attacker], n, { kind: 'clipped-mean', clip: 3 });
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(norm(clipped.dense) < norm(plain.dense) / 50, `clipped ${norm(clipped.dense)} vs mean ${norm(plain.dense)}`);
});

test('outer Nesterov step is deterministic float32', () => {
  const g = aggregateUpdates([frame(5, 10)], n, { kind: 'mean', clip: 0 }).dense;
  const run = () => {
    const p = new Float32Array(n).fill(0.5);
    const m = new Float32Array(n);
    applyOuterStep(p, m, g, { lr: 0.7, momentum: 0.9 });
    applyOuterStep(p, m, g, { lr: 0.7, momentum: 0.9 });
    return hashParams(p);
  };
  assert.equal(run(), run());
  const p = new Float32Array(1).fill(1);
  const m = new Float32Array(1);
  applyOuterStep(p, m, Float32Array.of(0.1), { lr: 0.5, momentum: 0.9 });
  // m = 0.1, θ = 1 − 0.5·(0.1 + 0.9·0.1) = 0.905
  assert.ok(Math.abs(p[0] - 0.905) < 1e-6 && Math.abs(m[0] - 0.1) < 1e-7);
});

const robust = [
  { kind: 'clipped-mean', clip: 3 },
  { kind: 'trimmed-mean', clip: 3, trim: 0.2 },
  { kind: 'centered-clip', clip: 3, trim: 0.2, tau: 1, iterations: 3 },
] as const;
const l2 = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0) / (l2(a) * l2(b));

test('every aggregator is order-independent and bit-identical', () => {
  const us = [frame(1, 32), frame(2, 64), frame(3, 96), frame(4, 32), frame(5, 10, 50)];
  for (const cfg of [{ kind: 'mean', clip: 0 } as const, ...robust]) {
    const a = aggregateUpdates(us, n, cfg);
    const b = aggregateUpdates([us[3], us[4], us[2], us[0], us[1]], n, cfg);
    assert.deepEqual(a.dense, b.dense, cfg.kind);
    assert.deepEqual(a.excluded, b.excluded, cfg.kind);
    assert.equal(hashParams(a.dense), hashParams(b.dense));
  }
});

test('duplicates, near-copies and empty frames are excluded; the lowest hash of a copy group is kept', () => {
  const honest = [frame(1, 32), frame(2, 32), frame(3, 32)];
  const replay = { ...honest[0] };
  // A near-copy: the same update scaled by 1.001 (another hash, cosine 1).
  const near = (() => {
    const r = createRng(1);
    const v = Float32Array.from({ length: n }, () => gaussian(r) * 1.001);
    const bytes = encodeUpdate(v, codec, { paramTableHash: pth, run: 1, round: 0, samples: 32 }).bytes;
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, limits) };
  })();
  const emptyBytes = encodeUpdate(new Float32Array(n), codec, { paramTableHash: pth, run: 1, round: 0, samples: 32 }).bytes;
  const empty = { hash: hashFrame(emptyBytes), frame: decodeFrame(emptyBytes, limits) };
  for (const cfg of robust) {
    const r = aggregateUpdates([...honest, replay, near, empty], n, cfg);
    const reasons = Object.fromEntries(r.excluded.map((x) => [x.hash, x.reason]));
    assert.equal(r.excluded.filter((x) => x.reason === 'duplicate').length, 1, cfg.kind);
    assert.equal(reasons[empty.hash], 'empty');
    const pair = [honest[0].hash, near.hash].sort();
    assert.equal(reasons[pair[1]], 'copycat', 'the higher hash of a near-copy pair is dropped');
    assert.ok(r.included.includes(pair[0]), 'the lowest hash of the pair is kept');
    assert.equal(r.samples, 96);
    assert.deepEqual(r.dense, aggregateUpdates(honest.filter((h) => h.hash !== pair[1]).concat(pair[1] === near.hash ? [] : [near]), n, cfg).dense);
  }
  // The control rejects nothing.
  assert.equal(aggregateUpdates([...honest, replay, empty], n, { kind: 'mean', clip: 0 }).excluded.length, 0);
});

test('robust aggregators hold a sign-flip and a huge-noise minority that defeats the mean', () => {
  // Honest updates share a direction (common signal + individual noise); attackers flip or blow up.
  const common = (() => {
    const r = createRng(99);
    return Float32Array.from({ length: n }, () => gaussian(r));
  })();
  const mk = (seed: number, sign: number, noise: number) => {
    const r = createRng(seed);
    const v = Float32Array.from({ length: n }, (_, i) => sign * (common[i] + 0.5 * gaussian(r)) + noise * gaussian(r));
    const bytes = encodeUpdate(v, { ...codec, density: 1 }, { paramTableHash: pth, run: 1, round: 0, samples: 32 }).bytes;
    const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 1, codec: { ...codec, density: 1 }, maxSamples: 1e6 });
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, lim) };
  };
  const honest = Array.from({ length: 7 }, (_, i) => mk(10 + i, 1, 0));
  for (const attackers of [
    [mk(30, -3, 0), mk(31, -3, 0), mk(32, -3, 0)],
    [mk(40, 0, 100), mk(41, 0, 100), mk(42, 0, 100)],
  ]) {
    const mean = aggregateUpdates([...honest, ...attackers], n, { kind: 'mean', clip: 0 }).dense;
    assert.ok(cos(mean, common) < 0.3, `the mean is dragged away (cos ${cos(mean, common)})`);
    for (const cfg of robust.slice(1)) {
      const d = aggregateUpdates([...honest, ...attackers], n, cfg).dense;
      assert.ok(cos(d, common) > 0.8, `${cfg.kind}: cos ${cos(d, common)}`);
      assert.ok(l2(d) < 2 * l2(common), `${cfg.kind}: norm bounded`);
    }
  }
});

test('minCosine drops updates that oppose the trimmed mean, and only those', () => {
  const common = (() => {
    const r = createRng(7);
    return Float32Array.from({ length: n }, () => gaussian(r));
  })();
  const dense = { ...codec, density: 1 };
  const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 1, codec: dense, maxSamples: 1e6 });
  const mk = (seed: number, sign: number) => {
    const r = createRng(seed);
    const bytes = encodeUpdate(
      Float32Array.from({ length: n }, (_, i) => sign * (common[i] + 1.5 * gaussian(r))),
      dense,
      { paramTableHash: pth, run: 1, round: 0, samples: 32 },
    ).bytes;
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, lim) };
  };
  const honest = Array.from({ length: 7 }, (_, i) => mk(50 + i, 1));
  const flipped = [mk(60, -4), mk(61, -4)];
  for (const kind of ['trimmed-mean', 'centered-clip'] as const) {
    const cfg = { kind, clip: 3, minCosine: 0 };
    const all = aggregateUpdates([...flipped, ...honest], n, cfg);
    assert.deepEqual(
      all.excluded.map((x) => x.reason),
      ['opposed', 'opposed'],
      kind,
    );
    assert.deepEqual(new Set(all.excluded.map((x) => x.hash)), new Set(flipped.map((u) => u.hash)), `${kind}: the flipped ones are dropped`);
    assert.equal(all.samples, 7 * 32);
    assert.deepEqual(aggregateUpdates([...honest].reverse().concat(flipped), n, cfg).dense, all.dense, `${kind}: order-independent`);
    assert.equal(aggregateUpdates(honest, n, cfg).excluded.length, 0, `${kind}: no honest update is dropped`);
    const without = aggregateUpdates([...flipped, ...honest], n, { kind, clip: 3 }).dense;
    assert.ok(cos(all.dense, common) > cos(without, common), `${kind}: closer to the honest direction (${cos(all.dense, common)} vs ${cos(without, common)})`);
  }
  // A cohort too small for the trimmed mean to trim anything (3 members at trim 0.2) has no
  // robust centre: a member pointing away from the others is kept, not dropped as 'opposed' —
  // unless the leave-one-out vote is on (the in-cohort aggregate): then it is the one dropped,
  // and a third member is never dropped from two.
  for (const kind of ['trimmed-mean', 'centered-clip'] as const) {
    const away = mk(62, -0.3);
    const three = aggregateUpdates([honest[0], honest[1], away], n, { kind, clip: 3, minCosine: 0 });
    assert.deepEqual(three.excluded, [], `${kind}: nothing dropped in a 3-member cohort`);
    assert.equal(three.included.length, 3);
    const voted = aggregateUpdates([honest[0], honest[1], away], n, { kind, clip: 3, minCosine: 0, leaveOneOut: true });
    assert.deepEqual(voted.excluded, [{ hash: away.hash, reason: 'opposed' }], `${kind}: the vote drops the member pointing away`);
    assert.deepEqual(voted.dense, aggregateUpdates([honest[0], honest[1]], n, { kind, clip: 3, minCosine: 0 }).dense);
    const pair = aggregateUpdates([honest[0], away], n, { kind, clip: 3, minCosine: 0, leaveOneOut: true });
    assert.deepEqual(
      pair.excluded.map((x) => x.hash).sort(),
      [honest[0].hash, away.hash].sort(),
      `${kind}: an opposed pair cannot be told apart: both dropped`,
    );
    assert.equal(pair.samples, 0);
    assert.ok(pair.dense.every((x) => x === 0));
    assert.deepEqual(
      aggregateUpdates([honest[0], honest[1]], n, { kind, clip: 3, minCosine: 0, leaveOneOut: true }).excluded,
      [],
      `${kind}: an honest pair keeps both`,
    );
    assert.deepEqual(
      aggregateUpdates(honest.slice(0, 4), n, { kind, clip: 3, minCosine: 0, leaveOneOut: true }).excluded,
      [],
      `${kind}: an honest 4 keeps all`,
    );
    const five = aggregateUpdates([...honest.slice(0, 4), mk(62, -4)], n, { kind, clip: 3, minCosine: 0 });
    assert.deepEqual(
      five.excluded.map((x) => x.reason),
      ['opposed'],
      `${kind}: from 5 members (one trimmed at each end) the filter applies`,
    );
  }
  assert.throws(() => validateRunSettings({ ...DEFAULT_RUN, aggregator: { ...DEFAULT_RUN.aggregator, minCosine: 1.5 } }), /run\.aggregator\.minCosine/);
});

test('trimmed mean treats a coordinate absent from a sparse frame as a zero', () => {
  const at = (pairs: [number, number][]) => {
    const v = new Float32Array(n);
    for (const [i, x] of pairs) v[i] = x;
    const bytes = encodeUpdate(v, { ...codec, bits: 32 }, { paramTableHash: pth, run: 1, round: 0, samples: 1 }).bytes;
    const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 1, codec: { ...codec, bits: 32 }, maxSamples: 1e6 });
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, lim) };
  };
  // Coordinate 0: values 1, 2, 3, 4 and one absent (0); trimming one at each end leaves 1, 2, 3.
  const us = [
    at([
      [0, 1],
      [5, 1],
    ]),
    at([
      [0, 2],
      [6, 1],
    ]),
    at([
      [0, 3],
      [7, 1],
    ]),
    at([
      [0, 4],
      [8, 1],
    ]),
    at([
      [9, 1],
      [10, -1],
    ]),
  ];
  const r = aggregateUpdates(us, n, { kind: 'trimmed-mean', clip: 0, trim: 0.2 });
  assert.equal(r.dense[0], 2);
  assert.equal(r.dense[5], 0, 'a value only one member sent is trimmed away');
});

test('unequal samples (adaptive inner steps): every aggregator weights by samples; capped weight keeps attackers bounded', () => {
  const c = { ...codec, density: 1, bits: 32 as const };
  const lim = frameLimits({ paramTableHash: pth, paramCount: n, run: 1, codec: c, maxSamples: 1e6 });
  const mk = (v: Float32Array, samples: number) => {
    const bytes = encodeUpdate(v, c, { paramTableHash: pth, run: 1, round: 0, samples }).bytes;
    return { hash: hashFrame(bytes), frame: decodeFrame(bytes, lim) };
  };
  const r = createRng(5);
  const a = Float32Array.from({ length: n }, () => gaussian(r));
  const b = Float32Array.from({ length: n }, () => gaussian(r));
  // A device that did 3× the steps counts 3×: (3a + b) / 4 when nothing is clipped or trimmed.
  const pair = [mk(a, 96), mk(b, 32)];
  for (const cfg of [
    { kind: 'mean' as const, clip: 0 },
    { kind: 'clipped-mean' as const, clip: 0 },
    { kind: 'trimmed-mean' as const, clip: 0, trim: 0 },
    { kind: 'centered-clip' as const, clip: 0, trim: 0, tau: 1e6 },
  ]) {
    const d = aggregateUpdates(pair, n, cfg).dense;
    for (let i = 0; i < n; i += 97) assert.ok(Math.abs(d[i] - (3 * a[i] + b[i]) / 4) < 1e-5, `${cfg.kind} at ${i}: ${d[i]}`);
  }
  // Honest peers at mixed speeds (32 to 128 samples); attackers claim the most a report may (128).
  const common = Float32Array.from({ length: n }, () => gaussian(r));
  const rngs = Array.from({ length: 7 }, (_, k) => createRng(k + 50));
  const honest = [32, 64, 96, 128, 32, 64, 128].map((s, k) =>
    mk(
      common.map((x) => x + 0.5 * gaussian(rngs[k])),
      s,
    ),
  );
  const arngs = [0, 1, 2].map((k) => createRng(k + 90));
  const attackers = [0, 1, 2].map((k) =>
    mk(
      common.map((x) => -3 * x + 0.5 * gaussian(arngs[k])),
      128,
    ),
  );
  const d = aggregateUpdates([...honest, ...attackers], n, { kind: 'centered-clip', clip: 3, trim: 0.2, tau: 1, iterations: 3 }).dense;
  assert.ok(cos(d, common) > 0.5, `centered-clip holds with unequal weights: cos ${cos(d, common)}`);
});

test('the chunked typed-array combine is bit-identical to the dense one (shared/aggregate-dense.ts) on random inputs', () => {
  const r = createRng(2024);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  // Values from a small set give ties (and ±0); some frames are out of order or repeat an index.
  const pick = [-2, -1, -0.5, -0, 0, 0.5, 1, 2];
  // Up to 5000 coordinates: supports longer than one chunk (2048) in most cases.
  for (let c = 0; c < 120; c++) {
    const paramCount = int(1, 5000);
    const m = int(1, 40);
    const density = [0.01, 0.05, 0.3, 1][int(0, 3)];
    const tied = r() < 0.3;
    const updates = Array.from({ length: m }, (_, j) => {
      const idx: number[] = [];
      for (let i = 0; i < paramCount; i++) if (r() < density) idx.push(i);
      if (idx.length === 0) idx.push(int(0, paramCount - 1));
      if (r() < 0.05) idx.reverse();
      if (r() < 0.05) idx.push(idx[0]);
      const values = Float32Array.from(idx, () => (tied ? pick[int(0, pick.length - 1)] : gaussian(r) * (r() < 0.1 ? 50 : 1)));
      if (values.every((v) => v === 0)) values[0] = 1;
      const samples = int(1, 512);
      const hash = `0x${(c * 1000 + j).toString(16).padStart(64, '0')}` as const;
      return {
        hash,
        frame: { header: { paramCount, samples }, indices: Uint32Array.from(idx), values } as unknown as Parameters<typeof aggregateUpdates>[0][0]['frame'],
      };
    });
    const cfg = {
      kind: (['trimmed-mean', 'centered-clip'] as const)[int(0, 1)],
      clip: [0, 1.5, 3][int(0, 2)],
      trim: [0, 0.1, 0.2, 0.45][int(0, 3)],
      tau: [0.1, 1, 5][int(0, 2)],
      iterations: int(0, 4),
      copycatCosine: 0.99,
      minCosine: [undefined, -0.2, 0, 0.3][int(0, 3)],
      leaveOneOut: r() < 0.5,
    };
    const want = aggregateUpdatesDense(updates, paramCount, cfg);
    const got = aggregateUpdates(updates, paramCount, cfg);
    const what = `case ${c}: ${m} updates of ${paramCount}, density ${density}, ${JSON.stringify(cfg)}`;
    assert.deepEqual(got.included, want.included, what);
    assert.deepEqual(got.excluded, want.excluded, what);
    assert.equal(got.samples, want.samples, what);
    assert.ok(Buffer.from(got.dense.buffer).equals(Buffer.from(want.dense.buffer)), `${what}: the dense results differ in their bits`);
  }
});

test("the sparse-aware combine is bit-identical to the dense one on groups shaped like a round's (64 sparse inputs, shared signs, ties, all-zero coordinates)", () => {
  const r = createRng(1719);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = [-2, -1, -0.5, -0, 0, 0.5, 1, 2];
  for (let c = 0; c < 24; c++) {
    const paramCount = int(200, 900);
    // A level-1 group: cohort aggregates at 1 − (1 − ρ)^7 and relay frames at ρ; sometimes dense (a level-2 group).
    const m = int(40, 70);
    const dense = c % 6 === 5;
    const direction = Float32Array.from({ length: paramCount }, () => gaussian(r));
    // Some coordinates are carried (as explicit ±0) by many inputs but nonzero in none.
    const zeroCoordinates = new Set(Array.from({ length: int(0, 20) }, () => int(0, paramCount - 1)));
    // Top-k picks the large coordinates of a shared direction, so a few coordinates are in most inputs.
    const hot = new Set(Array.from({ length: int(5, 30) }, () => int(0, paramCount - 1)));
    const tied = c % 4 === 1;
    const updates = Array.from({ length: m }, (_, j) => {
      const density = dense ? 1 : j % 2 ? 0.03 : 0.19;
      const idx: number[] = [];
      for (let i = 0; i < paramCount; i++) if (r() < (hot.has(i) ? 0.9 : density) || (zeroCoordinates.has(i) && r() < 0.5)) idx.push(i);
      if (idx.length === 0) idx.push(int(0, paramCount - 1));
      const values = Float32Array.from(idx, (i) =>
        zeroCoordinates.has(i)
          ? r() < 0.5
            ? -0
            : 0
          : tied
            ? Math.sign(direction[i]) * (r() < 0.8 ? 1 : -1) * Math.abs(pick[int(0, pick.length - 1)])
            : direction[i] + gaussian(r) * (j % 9 === 0 ? 4 : 0.5),
      );
      if (values.every((v) => v === 0)) ((values[0] = 1), zeroCoordinates.delete(idx[0]));
      const samples = j % 2 ? 800 : 5600 - int(0, 3) * 800;
      const hash = `0x${(c * 1000 + j).toString(16).padStart(64, '0')}` as const;
      return {
        hash,
        frame: { header: { paramCount, samples }, indices: Uint32Array.from(idx), values } as unknown as Parameters<typeof aggregateUpdates>[0][0]['frame'],
      };
    });
    for (const kind of ['trimmed-mean', 'centered-clip'] as const) {
      const cfg = { kind, clip: 3, trim: c % 5 === 4 ? 0.45 : 0.2, tau: 1, iterations: 3, copycatCosine: 0.99, minCosine: c % 2 ? undefined : 0 };
      const want = aggregateUpdatesDense(updates, paramCount, cfg);
      const got = aggregateUpdates(updates, paramCount, cfg);
      const what = `case ${c}: ${m} updates of ${paramCount}${dense ? ', dense' : ''}${tied ? ', tied' : ''}, ${JSON.stringify(cfg)}`;
      assert.ok(want.included.length >= 30, `${what}: the group kept ${want.included.length}`);
      assert.deepEqual(got.included, want.included, what);
      assert.deepEqual(got.excluded, want.excluded, what);
      assert.ok(Buffer.from(got.dense.buffer).equals(Buffer.from(want.dense.buffer)), `${what}: the dense results differ in their bits`);
      for (const i of zeroCoordinates) assert.ok(Object.is(got.dense[i], 0), `${what}: coordinate ${i}, zero in every input, is ${got.dense[i]}`);
      // The trimmed mean took both of its paths: coordinates whose kept ranks are all zeros (sparse groups), and coordinates with kept nonzeros.
      if (kind === 'trimmed-mean' && cfg.trim === 0.2)
        assert.ok(got.dense.some((v) => v !== 0) && (dense || got.dense.some((v, i) => v === 0 && !zeroCoordinates.has(i))), what);
    }
  }
});

test('past COPYCAT_EXHAUSTIVE updates the sketch finds every near-copy the exhaustive check finds, and refuses nothing else', () => {
  const r = createRng(77);
  const paramCount = 6000;
  const direction = Float32Array.from({ length: paramCount }, () => gaussian(r));
  let serial = 0;
  const mk = (indices: number[], values: number[], samples = 64) => ({
    hash: `0x${(++serial * 7919).toString(16).padStart(64, '0')}` as const,
    frame: { header: { paramCount, samples }, indices: Uint32Array.from(indices), values: Float32Array.from(values) } as unknown as Parameters<
      typeof aggregateUpdates
    >[0][0]['frame'],
  });
  /** An honest update: the common direction plus as much noise on a random support of density d. */
  const honest = (d: number) => {
    const idx: number[] = [];
    for (let i = 0; i < paramCount; i++) if (r() < d) idx.push(i);
    return mk(
      idx,
      idx.map((i) => direction[i] + gaussian(r)),
    );
  };
  const cosine = (a: Parameters<typeof aggregateUpdates>[0][0], b: Parameters<typeof aggregateUpdates>[0][0]) => {
    const da = new Float64Array(paramCount);
    a.frame.indices.forEach((i, j) => (da[i] = a.frame.values[j]));
    let dot = 0;
    b.frame.indices.forEach((i, j) => (dot += da[i] * b.frame.values[j]));
    const n = (u: typeof a) => Math.sqrt(u.frame.values.reduce((s, v) => s + v * v, 0));
    return dot / (n(a) * n(b));
  };
  const originals = Array.from({ length: 120 }, (_, k) => honest(k % 2 ? 0.03 : 0.2));
  const noiseOf = (u: (typeof originals)[0], rel: number) => {
    const rms = Math.sqrt(u.frame.values.reduce((s, v) => s + v * v, 0) / u.frame.values.length);
    return Array.from(u.frame.values, (v) => v + gaussian(r) * rms * rel);
  };
  const copies = [
    // scaled: the same support, every value × 1.001 (cosine 1)
    ...originals.slice(0, 10).map((u) =>
      mk(
        Array.from(u.frame.indices),
        Array.from(u.frame.values, (v) => v * 1.001),
      ),
    ),
    // re-noised at 10 % of the values' size: the same support, cosine ≈ 0.995
    ...originals.slice(10, 20).map((u) => mk(Array.from(u.frame.indices), noiseOf(u, 0.1))),
    // another support: the smallest 5 % of the values dropped and as many new small ones added, plus 3 % noise
    ...originals.slice(20, 30).map((u) => {
      const bySize = Array.from(u.frame.indices.keys()).sort((a, b) => Math.abs(u.frame.values[a]) - Math.abs(u.frame.values[b]));
      const keep = bySize.slice(Math.ceil(bySize.length * 0.05)).sort((a, b) => a - b);
      const values = noiseOf(u, 0.03);
      const added = new Map(keep.map((j) => [u.frame.indices[j], values[j]]));
      for (let t = 0; t < u.frame.indices.length * 0.05; t++) {
        const i = Math.floor(r() * paramCount);
        if (!added.has(i)) added.set(i, gaussian(r) * 0.05);
      }
      const idx = [...added.keys()].sort((a, b) => a - b);
      return mk(
        idx,
        idx.map((i) => added.get(i)!),
      );
    }),
  ];
  for (const [k, c] of copies.entries()) assert.ok(cosine(c, originals[k]) > 0.99, `copy ${k} is a near-copy (cosine ${cosine(c, originals[k])})`);
  // A different update at cosine ≈ 0.98 to an original: not a copy, and kept.
  const far = mk(Array.from(originals[40].frame.indices), noiseOf(originals[40], 0.2));
  assert.ok(cosine(far, originals[40]) < 0.99);
  const updates = [...originals, ...copies, far];
  assert.ok(updates.length > COPYCAT_EXHAUSTIVE);
  const cfg = { kind: 'centered-clip' as const, clip: 3, trim: 0.2, tau: 1, iterations: 3, copycatCosine: 0.99, minCosine: 0 };
  const got = aggregateUpdates(updates, paramCount, cfg);
  // Of each pair the higher hash is refused: the copies' hashes are all higher than their originals'.
  assert.deepEqual(
    got.excluded.filter((x) => x.reason === 'copycat').map((x) => x.hash),
    copies.map((c) => c.hash),
    'every planted copy is refused as a copycat',
  );
  assert.ok(got.included.includes(far.hash), 'an update at cosine 0.98 to another is kept');
  // The exhaustive oracle (every pair compared) reaches the same verdicts and the same bits.
  const want = aggregateUpdatesDense(updates, paramCount, cfg);
  assert.deepEqual(got.excluded, want.excluded);
  assert.deepEqual(got.included, want.included);
  assert.ok(Buffer.from(got.dense.buffer).equals(Buffer.from(want.dense.buffer)));
});
