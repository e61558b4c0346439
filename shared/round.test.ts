import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import { verifyTypedData, type Address, type Hex } from 'viem';
import { decodeFrame, encodeAggregate, hashFrame, toDense } from './codec.ts';
import { DEFAULT_RUN, PRESET_DEFAULTS, runSpecOf, type RunSpec } from './config.ts';
import { hashParams } from './model.ts';
import { contributionTypedData, eip712Domain } from './eip712.ts';
import { framesRoot, l2Norm } from './aggregate.ts';
import { createRng, gaussian } from './rng.ts';
import { runModelHash } from './model-hash.ts';
import { sameBits } from './wire/index.ts';
import {
  adaptiveSteps,
  aggregateLimits,
  buildContribution,
  applyGlobalUpdate,
  APPLY_SLICE,
  cohortAggregate,
  compressGlobalUpdate,
  describeVote,
  encodeOwnUpdate,
  globalUpdateLimits,
  maxCohortAggregateBytes,
  maxPeerFrameBytes,
  peerUpdateLimits,
  pseudoGradient,
  randomNonce,
} from './round.ts';

const run = runSpecOf(
  5,
  { ...DEFAULT_RUN, sizes: [20, 10, 4], codec: { density: 0.1, bits: 8, chunkSize: 64 } },
  { name: 'mnist', trainCount: 10, testCount: 10, features: 20, classes: 4 },
);

test('pseudoGradient is θ_r − θ_local plus the residual', () => {
  const v = pseudoGradient(Float32Array.from([1, 2]), Float32Array.from([0.5, 2.5]), Float32Array.from([0.1, 0]));
  assert.deepEqual([...v], [Math.fround(0.6), -0.5]);
  assert.throws(() => pseudoGradient(new Float32Array(2), new Float32Array(3), new Float32Array(2)), RangeError);
});

test('error feedback: decoded frame + residual equals v exactly (in float32)', () => {
  const v = new Float32Array(run.paramCount).map((_, i) => Math.sin(i) * 0.02);
  const own = encodeOwnUpdate(run, 2, v, 96);
  const dense = toDense(decodeFrame(own.bytes, peerUpdateLimits(run, 2)));
  for (let i = 0; i < v.length; i++) assert.ok(Math.abs(dense[i] + own.residual[i] - v[i]) < 1e-7, `index ${i}`);
});

function held(seed: number, address: Address) {
  const v = new Float32Array(run.paramCount).map((_, i) => Math.cos(seed * 31 + i) * 0.01);
  const own = encodeOwnUpdate(run, 2, v, 64);
  return { address, hash: own.hash, frame: decodeFrame(own.bytes, peerUpdateLimits(run, 2)) };
}

test('cohortAggregate: same frames in any order give the same aggregate; lowest address uploads', () => {
  const a = held(1, '0x00000000000000000000000000000000000000bb');
  const b = held(2, '0x00000000000000000000000000000000000000aa');
  const c = held(3, '0x00000000000000000000000000000000000000cc');
  const fromA = cohortAggregate(run, 2, a, [b, c]);
  const fromC = cohortAggregate(run, 2, c, [b, a]);
  assert.equal(fromA.aggregateHash, fromC.aggregateHash);
  assert.equal(fromA.framesRoot, framesRoot([a.hash, b.hash, c.hash]));
  assert.deepEqual(fromA.hashes, [a.hash, b.hash, c.hash].sort());
  assert.equal(fromA.uploader, b.address);
  assert.equal(fromA.samples, 192);
  assert.equal(fromA.relay, false);
  const agg = decodeFrame(fromA.bytes, aggregateLimits(run, 2));
  assert.equal(agg.header.kind, 2);
  assert.equal(agg.header.samples, 192);
  // What the vote saw, for the member's log: every held frame in hash order, the same from any member.
  assert.deepEqual(fromA.vote, fromC.vote);
  assert.deepEqual(fromA.vote.hashes, [a.hash, b.hash, c.hash].sort());
  const byHash = new Map([a, b, c].map((h) => [h.hash, h]));
  assert.deepEqual(
    fromA.vote.norms,
    fromA.vote.hashes.map((h) => l2Norm(byHash.get(h)!.frame.values)),
  );
  assert.deepEqual(fromA.vote.samples, [64, 64, 64]);
  const [x, y] = fromA.vote.hashes.map((h) => toDense(byHash.get(h)!.frame));
  const dot = x.reduce((s, v, i) => s + v * y[i], 0);
  assert.ok(Math.abs(fromA.vote.cosines[0] - dot / (fromA.vote.norms[0] * fromA.vote.norms[1])) < 1e-6, 'cosine of the first two');
  assert.equal(fromA.vote.cosines.length, 3);
  assert.match(describeVote(fromA), /^3 frame\(s\), norms [0-9.]+ [0-9.]+ [0-9.]+, samples 64 64 64, cosines -?[0-9.]+ -?[0-9.]+ -?[0-9.]+$/);
  assert.equal(describeVote(cohortAggregate(run, 2, a, [])), `1 frame(s), norms ${fromA.vote.norms[fromA.vote.hashes.indexOf(a.hash)].toFixed(2)}, samples 64`);
});

test('relay mode: only our own frame, we upload it', () => {
  const a = held(1, '0x00000000000000000000000000000000000000bb');
  const r = cohortAggregate(run, 2, a, []);
  assert.equal(r.relay, true);
  assert.equal(r.uploader, a.address);
  assert.deepEqual(r.hashes, [a.hash]);
});

test('the contribution signs and verifies under the run domain', async () => {
  const acct = privateKeyToAccount(`0x${'11'.repeat(32)}` as Hex);
  const h = `0x${'22'.repeat(32)}` as Hex;
  const c = buildContribution({
    run: 5,
    round: 2,
    cohort: 1,
    frameHash: h,
    aggregateHash: h,
    framesRoot: h,
    residualHash: h,
    samples: 960,
    steps: 30,
    lossBefore: 2.302585,
    lossAfter: Number.NaN,
    computeMs: 1234.6,
    nowMs: 1_700_000_000_500,
    nonce: randomNonce(),
  });
  assert.equal(c.lossBeforeMicro, 2302585);
  assert.equal(c.lossAfterMicro, 0xffffffff);
  assert.equal(c.computeMs, 1235);
  assert.equal(c.expiry, 1_700_003_600n);
  assert.ok(c.nonce >= 0n && c.nonce < 2n ** 64n);
  const td = contributionTypedData(eip712Domain(31337, '0x00000000000000000000000000000000000000d1'), c);
  const signature = await acct.signTypedData(td);
  assert.equal(await verifyTypedData({ ...td, address: acct.address, signature }), true);
});

test('adaptiveSteps: a faster device does more steps within the budget, capped by the run', () => {
  assert.equal(adaptiveSteps(100, 20_000, 400), 50);
  assert.equal(adaptiveSteps(100, 20_000, 100), 100, "capped at the run's inner steps");
  assert.equal(adaptiveSteps(100, 20_000, 1_000_000), 1, 'at least one step');
  assert.equal(adaptiveSteps(100, -5, 10), 1, 'a budget already spent still trains one step');
  assert.equal(adaptiveSteps(100, 20_000, null), 100, 'no measured pace yet: the full count');
  assert.ok(adaptiveSteps(100, 20_000, 250) > adaptiveSteps(100, 20_000, 500));
});

test('the size caps come from the run: a cohort aggregate fits cohortSize × an update per chunk, and no cap is fixed below the model', () => {
  const cohort = runSpecOf(6, { ...DEFAULT_RUN, sizes: [20, 10, 4], cohortSize: 3, codec: { density: 0.1, bits: 8, chunkSize: 64 } }, run.dataset);
  const k = 7; // kPerChunk(0.1, 64)
  // Three members whose largest values sit on disjoint positions: the aggregate's support is their union.
  const member = (m: number, address: Address) => {
    const v = new Float32Array(cohort.paramCount).map((_, i) => (i % 3 === m ? 1 + (i % 5) * 0.1 : 0.001));
    const own = encodeOwnUpdate(cohort, 2, v, 8);
    return { address, hash: own.hash, frame: decodeFrame(own.bytes, peerUpdateLimits(cohort, 2)) };
  };
  const agg = cohortAggregate(cohort, 2, member(0, '0x00000000000000000000000000000000000000a1'), [
    member(1, '0x00000000000000000000000000000000000000a2'),
    member(2, '0x00000000000000000000000000000000000000a3'),
  ]);
  const bound = maxCohortAggregateBytes(cohort);
  assert.ok(agg.bytes.length <= bound, `${agg.bytes.length} > ${bound}`);
  assert.ok(agg.bytes.length > 0.8 * bound, `the bound is tight: ${agg.bytes.length} of ${bound}`);
  // Exactly the bound: min(len, 3k) nonzeros in every chunk; one more value is over it.
  const full = (extra: number) => {
    const dense = new Float32Array(cohort.paramCount);
    for (let c = 0; c * 64 < dense.length; c++) for (let j = 0; j < Math.min(3 * k + extra, 64, dense.length - c * 64); j++) dense[c * 64 + j] = 1;
    return encodeAggregate(dense, 64, { paramTableHash: cohort.paramTableHash, run: cohort.id, round: 2, samples: 1 }).length;
  };
  assert.equal(full(0), bound);
  assert.ok(full(1) > bound);
  assert.ok(maxPeerFrameBytes(cohort) < bound);
  // gpt-base's cohort aggregate may pass the old fixed 8 MiB cap: the run's bound lets it through.
  const base = runSpecOf(7, PRESET_DEFAULTS['gpt-base'], { name: 'text', text: 'ab'.repeat(32), trainCount: 500, testCount: 20, features: 257, classes: 256 });
  assert.equal(maxCohortAggregateBytes(base), 25_401_084);
});

test("codec warm-up: a page's frames, every receiver's limits, the size caps and the down codec follow the round", () => {
  const warm = runSpecOf(
    8,
    { ...DEFAULT_RUN, sizes: [20, 10, 4], codec: { density: 0.1, bits: 8, chunkSize: 64, warmup: { rounds: 2, density: 0.5 } } },
    run.dataset,
  );
  const v = new Float32Array(warm.paramCount).map((_, i) => Math.sin(i) * 0.02);
  const kOf = (round: number) => decodeFrame(encodeOwnUpdate(warm, round, v, 8).bytes, peerUpdateLimits(warm, round)).header.totalK;
  const chunks = Math.ceil(warm.paramCount / 64);
  assert.ok(kOf(1) > 4 * kOf(2), `round 1 ${kOf(1)} values, round 2 ${kOf(2)}`);
  assert.equal(
    kOf(2),
    decodeFrame(encodeOwnUpdate({ ...warm, codec: { ...warm.codec, warmup: undefined } }, 2, v, 8).bytes, peerUpdateLimits(warm, 2)).header.totalK,
  );
  // A round-1 frame replayed as round 2's is too dense for round 2's limits.
  assert.throws(() =>
    decodeFrame(encodeOwnUpdate({ ...warm, codec: { ...warm.codec, warmup: { rounds: 3, density: 0.5 } } }, 2, v, 8).bytes, peerUpdateLimits(warm, 2)),
  );
  // The caps that know no round admit the warm-up's frames and aggregates.
  assert.ok(encodeOwnUpdate(warm, 0, v, 8).bytes.length <= maxPeerFrameBytes(warm));
  assert.ok(maxCohortAggregateBytes(warm) >= maxCohortAggregateBytes({ ...warm, codec: { ...warm.codec, warmup: undefined } }));
  assert.ok(kOf(0) <= chunks * 32);
  // The down codec is as dense as the warm-up in its rounds, its own density after.
  const g = new Float32Array(warm.paramCount).map((_, i) => Math.cos(i) * 0.01);
  const downK = (round: number) =>
    decodeFrame(
      compressGlobalUpdate(
        warm,
        round,
        encodeAggregate(g, 64, { paramTableHash: warm.paramTableHash, run: warm.id, round, samples: 8 }),
        new Float32Array(warm.paramCount),
      ).bytes,
      globalUpdateLimits(warm, round),
    ).header.totalK;
  assert.ok(downK(0) > 2 * downK(2), `down round 0 ${downK(0)}, round 2 ${downK(2)}`);
});

test('one frame down: the global update in the down codec with decaying error feedback applies to one hash everywhere', async () => {
  const downRun: RunSpec = { ...run, globalUpdate: 'compressed', downCodec: { density: 0.3, bits: 4, residualDecay: 0.5 } };
  const g = new Float32Array(run.paramCount).map((_, i) => (i % 3 === 0 ? Math.sin(i) * 0.01 : 0));
  const e = new Float32Array(run.paramCount).map((_, i) => Math.cos(i) * 0.004);
  const combined = encodeAggregate(g, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round: 2, samples: 96 });
  const down = compressGlobalUpdate(downRun, 2, combined, e);
  // v = g + β·e, and decode(frame) + e' = v: nothing is lost, only delayed (and β-decayed).
  const decoded = decodeFrame(down.bytes, globalUpdateLimits(downRun, 2));
  assert.equal(decoded.header.bits, 4);
  assert.equal(decoded.header.samples, 96);
  const dense = toDense(decoded);
  for (let i = 0; i < g.length; i++) assert.ok(Math.abs(dense[i] + down.residual[i] - (g[i] + Math.fround(0.5 * e[i]))) < 1e-7, `index ${i}`);
  // It is not a peer's frame: the run's peer limits (8 bits, 10 %) refuse it.
  assert.throws(() => decodeFrame(down.bytes, peerUpdateLimits(downRun, 2)), /4-bit values, the run uses 8/);
  // The coordinator and a page apply the same bytes to separate copies and reach one hash.
  const params = new Float32Array(run.paramCount).map((_, i) => Math.sin(3 * i));
  const model = {
    run: run.id,
    paramTableHash: run.paramTableHash,
    round: 2,
    modelHash: hashParams(params),
    params,
    momentum: new Float32Array(run.paramCount),
  };
  const coordinator = await applyGlobalUpdate(model, down.bytes, downRun);
  const page = await applyGlobalUpdate({ ...model, params: params.slice(), momentum: model.momentum.slice() }, Uint8Array.from(down.bytes), downRun);
  assert.equal(page.modelHash, coordinator.modelHash);
  assert.notEqual(coordinator.modelHash, model.modelHash);
  // A run without a down codec (created before it existed) codes the global update with its peers' codec.
  const plain = compressGlobalUpdate({ ...run, globalUpdate: 'compressed', downCodec: undefined }, 2, combined, new Float32Array(run.paramCount));
  assert.equal(decodeFrame(plain.bytes, peerUpdateLimits(run, 2)).header.bits, 8);
});

// A cohort on the default codec (3 %, 2 bits, Rice indices) at a size where a frame holds
// hundreds of values: honest pseudo-gradients share a direction `common` under noise of 2× its
// scale per coordinate (dense pairwise cosine 1/(1 + 2²) = 0.2; their frames' cosines are lower),
// the attacker trains like them and sends −4Δ (shared/attacks.ts sign-flip).
const cohortRun = runSpecOf(8, { ...DEFAULT_RUN, sizes: [200, 50, 10] }, { name: 'mnist', trainCount: 10, testCount: 10, features: 200, classes: 10 });
const signal = (seed: number) => {
  const r = createRng(seed);
  return Float32Array.from({ length: cohortRun.paramCount }, () => gaussian(r));
};
const memberOf = (common: Float32Array, seed: number, scale = 1) => {
  const noise = signal(seed);
  const own = encodeOwnUpdate(
    cohortRun,
    3,
    common.map((x, i) => scale * (x + 2 * noise[i]) * 1e-3),
    3200,
  );
  const address = `0x${(0xa0 + seed).toString(16).padStart(40, '0')}` as Address;
  return { address, hash: own.hash, frame: decodeFrame(own.bytes, peerUpdateLimits(cohortRun, 3)) };
};
const along = (bytes: Uint8Array, common: Float32Array) => {
  const d = toDense(decodeFrame(bytes, aggregateLimits(cohortRun, 3)));
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i] * common[i];
  return s;
};
const withoutVote: RunSpec = { ...cohortRun, aggregator: { ...cohortRun.aggregator, leaveOneOut: false } };

test('a −4Δ member of a cohort of 2, 3, 4 or 8 is refused as opposed and cannot move the aggregate against the honest direction', () => {
  // A cohort of 2: the flip and one honest member oppose each other; neither is applied, and the
  // cohort's aggregate is empty (its reports name no frame: no winner, both NO_QUORUM, no credit).
  for (let trial = 0; trial < 5; trial++) {
    const common = signal(900 + trial);
    const honest = memberOf(common, 700 + trial);
    const attacker = memberOf(common, 750 + trial, -4);
    const agg = cohortAggregate(cohortRun, 3, honest, [attacker]);
    assert.deepEqual(agg.hashes, [], `pair ${trial}`);
    assert.deepEqual(
      agg.excluded.map((x) => x.reason),
      ['opposed', 'opposed'],
    );
    assert.equal(agg.samples, 0);
    assert.equal(along(agg.bytes, common), 0);
    assert.deepEqual(cohortAggregate(cohortRun, 3, honest, [memberOf(common, 760 + trial)]).excluded, [], `an honest pair ${trial} keeps both`);
  }
  for (const size of [3, 4, 8]) {
    for (let trial = 0; trial < 5; trial++) {
      const common = signal(1000 + 10 * size + trial);
      const honest = Array.from({ length: size - 1 }, (_, i) => memberOf(common, 100 * trial + i + 1));
      const attacker = memberOf(common, 100 * trial + 50, -4);
      const what = `cohort of ${size}, trial ${trial}`;
      const agg = cohortAggregate(cohortRun, 3, attacker, honest);
      assert.deepEqual(agg.excluded, [{ hash: attacker.hash, reason: 'opposed' }], what);
      assert.deepEqual(agg.hashes, honest.map((h) => h.hash).sort(), `${what}: the report names only the honest frames`);
      assert.equal(agg.samples, 3200 * (size - 1));
      // The aggregate is the honest members' own, and moves along their direction.
      const clean = cohortAggregate(cohortRun, 3, honest[0], honest.slice(1));
      assert.equal(agg.aggregateHash, clean.aggregateHash, what);
      assert.ok(along(agg.bytes, common) > 0, what);
      // Every member computes it alike, in any order.
      assert.equal(cohortAggregate(cohortRun, 3, honest[0], [...honest.slice(1), attacker].reverse()).aggregateHash, agg.aggregateHash, what);
      // The control: without the vote a 1-of-3 flip drags the aggregate against the honest direction.
      // The control: without the vote the clipped flip (3× the median norm) costs a 1-of-3 cohort
      // most of its progress (measured: 0.23–0.31 of the protected aggregate's, these trials).
      if (size === 3)
        assert.ok(along(cohortAggregate(withoutVote, 3, attacker, honest).bytes, common) < 0.5 * along(agg.bytes, common), `${what}: the control is moved`);
    }
  }
});

test('an honest cohort of 2, 3 or 4 loses nothing to the vote: the same bytes as the aggregate without it', () => {
  for (const size of [2, 3, 4]) {
    for (let trial = 0; trial < 10; trial++) {
      const common = signal(2000 + 10 * size + trial);
      const honest = Array.from({ length: size }, (_, i) => memberOf(common, 300 + 10 * trial + i));
      const agg = cohortAggregate(cohortRun, 3, honest[0], honest.slice(1));
      assert.deepEqual(agg.excluded, [], `cohort of ${size}, trial ${trial}`);
      assert.equal(agg.aggregateHash, cohortAggregate(withoutVote, 3, honest[0], honest.slice(1)).aggregateHash);
    }
  }
});

test('applyGlobalUpdate with a pause: awaited between slices of APPLY_SLICE values, the same params, momentum and model hash as in one pass', async () => {
  // 2.5 slices of values, an outer step with momentum (so both arrays matter), a dense exact aggregate.
  const big = runSpecOf(
    9,
    { ...DEFAULT_RUN, sizes: [1000, 2621], outer: { lr: 0.7, momentum: 0.6 }, codec: { density: 0.1, bits: 8, chunkSize: 1024 } },
    { name: 'mnist', trainCount: 10, testCount: 10, features: 1000, classes: 2621 },
  );
  const n = big.paramCount;
  assert.ok(n > 2 * APPLY_SLICE && n < 3 * APPLY_SLICE, `${n} values: three slices`);
  const rand = createRng(3);
  const g = new Float32Array(n).map(() => gaussian(rand) * 1e-3);
  const bytes = encodeAggregate(g, big.codec.chunkSize, { paramTableHash: big.paramTableHash, run: big.id, round: 4, samples: 8 });
  const model = {
    run: big.id,
    paramTableHash: big.paramTableHash,
    round: 4,
    modelHash: '0x' as Hex,
    params: new Float32Array(n).map(() => gaussian(rand)),
    momentum: new Float32Array(n).map(() => gaussian(rand) * 1e-2),
  };
  const before = { params: model.params.slice(), momentum: model.momentum.slice() };
  const whole = await applyGlobalUpdate(model, bytes, big);
  let pauses = 0;
  const sliced = await applyGlobalUpdate(model, bytes, big, async () => void pauses++);
  assert.equal(pauses, Math.ceil(n / APPLY_SLICE) - 1);
  assert.equal(sliced.modelHash, whole.modelHash);
  assert.ok(sameBits(sliced.params, whole.params) && sameBits(sliced.momentum, whole.momentum), 'bit for bit');
  assert.ok(sameBits(model.params, before.params) && sameBits(model.momentum, before.momentum), 'the input model is not touched');
  assert.notEqual(whole.modelHash, await runModelHash(big, model.params));
});
