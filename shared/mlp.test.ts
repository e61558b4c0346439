import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mlpSpec, initParams, paramTableHash } from './model.ts';
import {
  adamwLr,
  adamwStep,
  gatherBatch,
  mlpBackward,
  mlpForward,
  primedBatches,
  softmaxCrossEntropy,
  trainLocalCpu,
  type AdamWConfig,
  type Dataset,
} from './mlp.ts';
import { createRng } from './rng.ts';

test('reference backward matches finite differences', () => {
  const spec = mlpSpec([7, 5, 3]);
  const params = Float64Array.from(initParams(spec, 3));
  const B = 4;
  const rand = createRng(9);
  const x = Float32Array.from({ length: B * 7 }, () => rand());
  const y = Uint32Array.from([0, 2, 1, 2]);
  const loss = (p: Float64Array) => {
    const acts = mlpForward(spec, Float32Array.from(p), x, B);
    return softmaxCrossEntropy(acts[acts.length - 1], y, 3);
  };
  const p32 = Float32Array.from(params);
  const acts = mlpForward(spec, p32, x, B);
  const grad = mlpBackward(spec, p32, acts, loss(params).dlogits, B);
  for (let i = 0; i < spec.paramCount; i += 3) {
    const h = 1e-2;
    const up = params.slice();
    const down = params.slice();
    up[i] += h;
    down[i] -= h;
    const fd = (loss(up).loss - loss(down).loss) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]) < 2e-3, `param ${i}: fd ${fd} vs analytic ${grad[i]}`);
  }
});

test('parameter table hash pins the layout', () => {
  assert.equal(paramTableHash(mlpSpec([784, 64, 10])), paramTableHash(mlpSpec([784, 64, 10])));
  assert.notEqual(paramTableHash(mlpSpec([784, 64, 10])), paramTableHash(mlpSpec([784, 128, 10])));
  assert.equal(mlpSpec([784, 64, 10]).paramCount, 784 * 64 + 64 + 64 * 10 + 10);
});

test('the AdamW lr warm-up: lr·t/W over the first W steps, then lr; the first step of a warm-up moves each weight by lr/W', () => {
  const cfg: AdamWConfig = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, warmupSteps: 4 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 100].map((t) => adamwLr(cfg, t)),
    [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01],
  );
  assert.equal(adamwLr({ ...cfg, warmupSteps: undefined }, 1), 0.01);
  assert.equal(adamwLr({ ...cfg, warmupSteps: 0 }, 1), 0.01);
  // From zero moments the first update is sign(g) (bias-corrected m/√v): its size is the lr of step 1.
  const params = Float32Array.from([1, -1, 0.5]);
  const before = params.slice();
  adamwStep(params, Float32Array.from([0.3, -2, 1e-3]), new Float32Array(3), new Float32Array(3), 1, cfg);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(Math.abs(before[i] - params[i]) - 0.0025) < 1e-6, `weight ${i} moved ${before[i] - params[i]}`);
});

test('the AdamW prime: lr 0 through K steps (weights bit-identical, moments filled), then the round from step K + 1; K = 0 is no prime', () => {
  const cfg: AdamWConfig = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, warmupSteps: 2, primeSteps: 3 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((t) => adamwLr(cfg, t)),
    [0, 0, 0, 0.005, 0.01, 0.01],
    'the warm-up counts from the end of the prime',
  );
  assert.deepEqual(primedBatches(['a', 'b'], cfg), ['a', 'b', 'a', 'a', 'b'], "the prime cycles over the round's batches");
  assert.deepEqual(primedBatches(['a', 'b'], { ...cfg, primeSteps: 0 }), ['a', 'b']);
  assert.throws(() => primedBatches([], cfg), /primeSteps 3 needs at least one batch/);

  // A small dataset: 5 features, 3 classes, 24 samples.
  const spec = mlpSpec([5, 4, 3]);
  const rand = createRng(4);
  const data: Dataset = {
    images: Uint8Array.from({ length: 24 * 5 }, () => Math.floor(rand() * 256)),
    labels: Uint8Array.from({ length: 24 }, (_, i) => i % 3),
    count: 24,
    features: 5,
    classes: 3,
  };
  const batches = [0, 1, 2, 3].map((s) => Uint32Array.from({ length: 6 }, (_, b) => s * 6 + b));
  const start = initParams(spec, 7);

  // Through the prime the weights do not move (w − 0·u, w·(1 − 0·wd)) while m and v fill.
  const state = { m: new Float32Array(spec.paramCount), v: new Float32Array(spec.paramCount), t: 0 };
  const params = start.slice();
  for (const idx of primedBatches(batches, cfg).slice(0, 3)) {
    const { x, y } = gatherBatch(data, idx);
    const acts = mlpForward(spec, params, x, idx.length);
    const { dlogits } = softmaxCrossEntropy(acts[acts.length - 1], y, 3);
    adamwStep(params, mlpBackward(spec, params, acts, dlogits, idx.length), state.m, state.v, ++state.t, cfg);
  }
  assert.deepEqual(params, start, 'the prime leaves the weights bit-identical');
  assert.ok(state.v.some((x) => x > 0) && state.m.some((x) => x !== 0), 'the prime filled the moments');

  // The primed round = the unprimed round from those moments with the step count at K.
  const primed = trainLocalCpu(spec, start, data, batches, cfg);
  const unprimedCfg: AdamWConfig = { ...cfg, primeSteps: undefined };
  const fromState = trainLocalCpu(spec, start, data, batches, { ...unprimedCfg, warmupSteps: undefined }, state);
  const noWarm = trainLocalCpu(spec, start, data, batches, { ...cfg, warmupSteps: undefined });
  assert.deepEqual(noWarm.params, fromState.params, 'priming is moments at the start weights and a step count going on from K');
  assert.notDeepEqual(primed.params, noWarm.params, 'the warm-up after the prime changes the round');
  const plain = trainLocalCpu(spec, start, data, batches, unprimedCfg);
  assert.notDeepEqual(noWarm.params, plain.params, 'the prime changes the round');
  assert.equal(noWarm.lossBefore, plain.lossBefore, "lossBefore is the round's first step: the same weights and batch");
  assert.deepEqual(trainLocalCpu(spec, start, data, batches, { ...unprimedCfg, primeSteps: 0 }), plain, 'K = 0 is the round as before');
  assert.throws(
    () => trainLocalCpu(spec, start, data, batches, cfg, { m: new Float32Array(spec.paramCount), v: new Float32Array(spec.paramCount), t: 5 }),
    /primeSteps 3 primes a fresh optimizer, but the AdamW state has taken 5 steps/,
  );
});
