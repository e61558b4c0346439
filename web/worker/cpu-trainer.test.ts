import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainLocalCpu } from '../../shared/mlp.ts';
import { initParams, mlpSpec } from '../../shared/model.ts';
import { trainCpuRound } from './cpu-trainer.ts';
import { TrainingAbortedError } from '../../kernels/errors.ts';

const spec = mlpSpec([12, 7, 3]);
const count = 30;
const data = {
  images: Uint8Array.from({ length: count * 12 }, (_, i) => (i * 2654435761) >>> 24),
  labels: Uint8Array.from({ length: count }, (_, i) => i % 3),
  count,
  features: 12,
  classes: 3,
};
const adamw = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
const steps = 6;
const B = 4;
const batches = Uint32Array.from({ length: steps * B }, (_, i) => (i * 7) % count);

test('the CPU round equals trainLocalCpu bit for bit, even when sliced', async () => {
  const start = initParams(spec, 2);
  const ref = trainLocalCpu(
    spec,
    start,
    data,
    Array.from({ length: steps }, (_, s) => batches.subarray(s * B, (s + 1) * B)),
    adamw,
  );
  const r = await trainCpuRound(spec, start, data, batches, steps, adamw, { sliceMs: 0 });
  assert.deepEqual(r.params, ref.params);
  assert.equal(r.lossBefore, ref.lossBefore);
  assert.equal(r.lossAfter, ref.lossAfter);
  // The mean over the round's steps (what the page shows): step s's loss is the last loss of the
  // same training cut after s steps.
  const perStep = Array.from(
    { length: steps },
    (_, s) =>
      trainLocalCpu(
        spec,
        start,
        data,
        Array.from({ length: s + 1 }, (_, k) => batches.subarray(k * B, (k + 1) * B)),
        adamw,
      ).lossAfter,
  );
  assert.ok(Math.abs(r.lossMean - perStep.reduce((a, x) => a + x, 0) / steps) < 1e-12, `mean ${r.lossMean} vs ${perStep.join(', ')}`);
  assert.equal(r.lossMean, ref.lossMean);
  assert.equal(r.samples, steps * B);
});

test('an abort ends the CPU round at the next slice with the steps done', async () => {
  const ac = new AbortController();
  const run = trainCpuRound(spec, initParams(spec, 2), data, batches, steps, adamw, { signal: ac.signal, sliceMs: 0 });
  ac.abort();
  await assert.rejects(run, (e) => e instanceof TrainingAbortedError && e.stepsDone < steps);
});

test('a prime (adamw.primeSteps, simulator-only) is refused, not trained as K steps at lr 0', async () => {
  await assert.rejects(
    trainCpuRound(spec, initParams(spec, 2), data, batches, steps, { ...adamw, primeSteps: 2 }),
    /trainCpuRound: adamw\.primeSteps 2 is simulator-only/,
  );
});

test('with a kept AdamW state, two CPU rounds equal trainLocalCpu going on from the same state, bit for bit', async () => {
  const start = initParams(spec, 3);
  const per = Array.from({ length: steps }, (_, s) => batches.subarray(s * B, (s + 1) * B));
  const refState = { m: new Float32Array(spec.paramCount), v: new Float32Array(spec.paramCount), t: 0 };
  const ref1 = trainLocalCpu(spec, start, data, per, adamw, refState);
  const ref2 = trainLocalCpu(spec, ref1.params, data, per, adamw, refState);
  const zero = { m: new Float32Array(spec.paramCount), v: new Float32Array(spec.paramCount), t: 0 };
  const r1 = await trainCpuRound(spec, start, data, batches, steps, adamw, { state: zero });
  assert.equal(zero.t, 0, 'the given state was changed');
  const r2 = await trainCpuRound(spec, r1.params, data, batches, steps, adamw, { state: r1.state });
  assert.deepEqual(r2.params, ref2.params);
  assert.deepEqual(r2.state, refState);
  assert.equal(r2.state!.t, 2 * steps);
  const restarted = await trainCpuRound(spec, r1.params, data, batches, steps, adamw);
  assert.equal(restarted.state, undefined);
  assert.notDeepEqual(restarted.params, r2.params);
});
