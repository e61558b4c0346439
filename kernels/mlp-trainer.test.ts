import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mlpForward, trainLocalCpu, type AdamWConfig } from '../shared/mlp.ts';
import { initParams, mlpSpec } from '../shared/model.ts';
import { createRng } from '../shared/rng.ts';
import { acquireDevice } from './device.ts';
import { DeviceLostError } from './errors.ts';
import { checkTrainerMatchesCpu } from './conformance.ts';
import { createMlpTrainer, deviceParamLayout } from './mlp-trainer.ts';
import { deviceNeeds } from '../shared/device-needs.ts';
import { createNodeGpu } from './node-gpu.ts';
import { assertCheck, assertClose, randomArray, randomDataset, testGpu } from './test-gpu.ts';

const { ctx, cache } = await testGpu();
const device = ctx.device;
const adamw: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

test('the buffers an MLP trainer holds are what shared/device-needs.ts says a device needs (parameters, optimizer, activations)', async () => {
  for (const sizes of [
    [20, 13, 5],
    [784, 64, 10],
  ]) {
    const spec = mlpSpec(sizes);
    const trainer = createMlpTrainer(ctx.device, spec, { batchSize: 7, cache });
    try {
      const n = deviceNeeds(spec, { steps: 1, batchSize: 7 });
      assert.equal(trainer.residentBytes, n.paramBytes + n.optimizerBytes + n.activationBytes, sizes.join('-'));
    } finally {
      trainer.destroy();
    }
  }
});

test('3 steps of batch 8 on [20, 13, 5] match trainLocalCpu', async () => {
  const tol = { atol: 1e-5, rtol: 1e-5 };
  assertCheck(await checkTrainerMatchesCpu(device, cache, { sizes: [20, 13, 5], batchSize: 8, steps: 3, count: 50, adamw, paramTol: tol, lossTol: tol }));
});

test('two hidden layers [11, 9, 7, 3], batch 5 × 4 steps match trainLocalCpu (chained ReLU backward)', async () => {
  const tol = { atol: 1e-5, rtol: 1e-5 };
  assertCheck(
    await checkTrainerMatchesCpu(device, cache, { sizes: [11, 9, 7, 3], batchSize: 5, steps: 4, count: 23, adamw, paramTol: tol, lossTol: tol, seed: 11 }),
  );
});

test('the real shape [784, 128, 10], batch 32 × 2 steps matches trainLocalCpu', async () => {
  // K = 784 sums in f32 on the GPU vs f64 on the CPU: observed max |Δθ| ≈ 2e-7.
  const tol = { atol: 1e-4, rtol: 1e-4 };
  const o = { sizes: [784, 128, 10], batchSize: 32, steps: 2, count: 200, adamw: { ...adamw, lr: 1e-3 }, paramTol: tol, lossTol: tol };
  assertCheck(await checkTrainerMatchesCpu(device, cache, o));
});

test('segmented rounds give bit-equal results, and an abort stops between segments', async () => {
  const spec = mlpSpec([20, 13, 5]);
  const trainer = createMlpTrainer(device, spec, { batchSize: 8, cache });
  try {
    trainer.setData(randomDataset(40, 20, 5, createRng(5)));
    const params = initParams(spec, 4);
    const args = (steps: number) => ({ params, batches: Uint32Array.from({ length: steps * 8 }, (_, i) => (i * 11) % 40), steps, adamw });
    const whole = await trainer.train(args(9));
    // segmentMs far below one step's time: every step is its own submission.
    const split = await trainer.train({ ...args(9), segmentMs: 1e-6 });
    assert.deepEqual(split.params, whole.params);
    assert.deepEqual(split.losses, whole.losses);
    await assert.rejects(trainer.train({ ...args(3), segmentMs: 1e-6, signal: AbortSignal.abort() }), /stopped after 0 of 3 steps/);
    const stop = new AbortController();
    const run = trainer.train({ ...args(50), segmentMs: 1e-6, signal: stop.signal });
    await new Promise((r) => setTimeout(r, 5));
    stop.abort();
    await assert.rejects(run, (e: Error & { stepsDone?: number }) => e.name === 'TrainingAbortedError' && e.stepsDone! >= 1 && e.stepsDone! < 50);
    assert.deepEqual((await trainer.train(args(9))).params, whole.params, 'an aborted round left state behind');
  } finally {
    trainer.destroy();
  }
});

test('rounds are independent: AdamW state resets, equal inputs give bit-equal outputs, no pipelines per round', async () => {
  const spec = mlpSpec([20, 13, 5]);
  const rand = createRng(12);
  const trainer = createMlpTrainer(device, spec, { batchSize: 8, cache });
  try {
    trainer.setData(randomDataset(40, 20, 5, rand));
    const params = initParams(spec, 3);
    const args = (steps: number) => ({ params, batches: Uint32Array.from({ length: steps * 8 }, (_, i) => (i * 7) % 40), steps, adamw });
    const pipelines = cache.size;
    const a = await trainer.train(args(5));
    const long = await trainer.train(args(17)); // grows the per-step buffers
    const b = await trainer.train(args(5));
    assert.equal(cache.size, pipelines, 'train() created pipelines');
    assert.deepEqual(b.params, a.params);
    assert.deepEqual(b.losses, a.losses);
    assert.deepEqual(long.losses.subarray(0, 5), a.losses);
    assert.equal(a.samples, 40);
    assert.equal(a.steps, 5);
    assert.ok(a.gpuMs > 0);
    assert.equal(a.lossBefore, a.losses[0]);
    assert.equal(a.lossAfter, a.losses[4]);
    assert.ok(long.lossAfter < long.lossBefore, `loss did not fall: ${long.lossBefore} → ${long.lossAfter}`);
    assert.deepEqual(params, initParams(spec, 3), 'train() modified its input');
  } finally {
    trainer.destroy();
  }
});

test('a kept AdamW state: two rounds of 4 steps go on as one of 8, match trainLocalCpu with the same state, and hand the state back', async () => {
  const spec = mlpSpec([20, 13, 5]);
  const trainer = createMlpTrainer(device, spec, { batchSize: 8, cache });
  try {
    const data = randomDataset(40, 20, 5, createRng(21));
    trainer.setData(data);
    const params = initParams(spec, 6);
    const idx = Uint32Array.from({ length: 8 * 8 }, (_, i) => (i * 13) % 40);
    const zero = () => ({ m: new Float32Array(spec.paramCount), v: new Float32Array(spec.paramCount), t: 0 });
    const whole = await trainer.train({ params, batches: idx, steps: 8, adamw, state: zero() });
    const first = await trainer.train({ params, batches: idx.subarray(0, 32), steps: 4, adamw, state: zero() });
    assert.equal(first.state!.t, 4);
    const second = await trainer.train({ params: first.params, batches: idx.subarray(32), steps: 4, adamw, state: first.state });
    assert.equal(second.state!.t, 8);
    assertClose(second.params, whole.params, { atol: 1e-6, rtol: 1e-6 }, 'two kept rounds against one');
    // Without a state the second round restarts from zero moments: a different result.
    const restarted = await trainer.train({ params: first.params, batches: idx.subarray(32), steps: 4, adamw });
    assert.equal(restarted.state, undefined);
    assert.ok(
      restarted.params.some((x, i) => Math.abs(x - second.params[i]) > 1e-5),
      'the kept state changed nothing',
    );
    const cpuState = zero();
    const per = (from: number) => Array.from({ length: 4 }, (_, s) => idx.subarray((from + s) * 8, (from + s + 1) * 8));
    trainLocalCpu(spec, params, data, per(0), adamw, cpuState);
    const cpu = trainLocalCpu(spec, first.params, data, per(4), adamw, { m: first.state!.m.slice(), v: first.state!.v.slice(), t: 4 });
    assertClose(second.params, cpu.params, { atol: 1e-5, rtol: 1e-5 }, 'GPU against the CPU reference from the same state');
    assertClose(first.state!.m, cpuState.m, { atol: 1e-5, rtol: 1e-4 }, 'm after round 1');
    assertClose(first.state!.v, cpuState.v, { atol: 1e-7, rtol: 1e-4 }, 'v after round 1');
    await assert.rejects(
      trainer.train({ params, batches: idx.subarray(0, 8), steps: 1, adamw, state: { ...zero(), m: new Float32Array(3) } }),
      /AdamW state holds 3/,
    );
  } finally {
    trainer.destroy();
  }
});

test('forward() matches mlpForward, also at a batch size other than the trainer’s', async () => {
  const spec = mlpSpec([20, 13, 5]);
  const rand = createRng(13);
  const trainer = createMlpTrainer(device, spec, { batchSize: 8, cache });
  try {
    const params = initParams(spec, 4);
    for (const B of [8, 3]) {
      const x = randomArray(B * 20, rand, 0, 1);
      const acts = mlpForward(spec, params, x, B);
      assertClose(await trainer.forward(params, x, B), acts[acts.length - 1], { atol: 1e-5, rtol: 1e-5 }, `logits B=${B}`);
    }
  } finally {
    trainer.destroy();
  }
});

test('bad inputs are refused with a message naming the problem', async () => {
  const spec = mlpSpec([4, 3, 2]);
  const trainer = createMlpTrainer(device, spec, { batchSize: 2, cache });
  try {
    const params = initParams(spec, 1);
    const ok = { params, batches: Uint32Array.from([0, 1]), steps: 1, adamw };
    await assert.rejects(trainer.train(ok), /no dataset; call setData\(\) first/);
    assert.throws(() => trainer.setData(randomDataset(3, 5, 2, createRng(1))), /5 features, the model takes 4/);
    trainer.setData(randomDataset(3, 4, 2, createRng(1)));
    await assert.rejects(trainer.train({ ...ok, batches: Uint32Array.from([0, 1, 2]) }), /3 indices, expected steps 1 × batch 2/);
    await assert.rejects(trainer.train({ ...ok, batches: Uint32Array.from([0, 3]) }), /sample index 3 at position 1 outside dataset of 3/);
    await assert.rejects(trainer.train({ ...ok, params: params.subarray(1) }), /params has 22 floats, the model 23/);
    await assert.rejects(trainer.train({ ...ok, adamw: { ...adamw, primeSteps: 2 } }), /MlpTrainer\.train: adamw\.primeSteps 2 is simulator-only/);
    await assert.doesNotReject(trainer.train(ok));
  } finally {
    trainer.destroy();
  }
  await assert.rejects(trainer.train({ params: initParams(spec, 1), batches: Uint32Array.from([0, 1]), steps: 1, adamw }), /destroyed/);
});

test('a lost device is a visible state and a typed error, not a hang', async () => {
  const other = await acquireDevice(createNodeGpu());
  const spec = mlpSpec([4, 3, 2]);
  const trainer = createMlpTrainer(other.device, spec, { batchSize: 2 });
  trainer.setData(randomDataset(3, 4, 2, createRng(1)));
  assert.equal(other.state.status, 'ready');
  other.device.destroy();
  const lost = await other.lost;
  assert.equal(lost.reason, 'destroyed');
  assert.equal(other.state.status, 'lost');
  assert.throws(() => other.assertReady(), DeviceLostError);
  await assert.rejects(trainer.train({ params: initParams(spec, 1), batches: Uint32Array.from([0, 1]), steps: 1, adamw }), DeviceLostError);
});

test('device layout: each tensor starts on a binding-offset boundary, in table order, without overlap', () => {
  const spec = mlpSpec([20, 13, 5]);
  const layout = deviceParamLayout(spec, 64);
  // w0 260 floats at 0 → b0 13 at 320 → w1 65 at 384 (ends 449) → b1 5 at 512
  assert.deepEqual(layout.offsets, [0, 320, 384, 512]);
  assert.equal(layout.totalFloats, 576);
});
