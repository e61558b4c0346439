import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mlpSpec, initParams, paramTableHash } from './model.ts';
import { adamwLr, adamwStep, mlpBackward, mlpForward, softmaxCrossEntropy, type AdamWConfig } from './mlp.ts';
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
