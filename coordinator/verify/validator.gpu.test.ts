// The validator's tolerance against the float drift it must absorb: an honest volunteer
// trains on a GPU (here Dawn: SwiftShader on CPU-only machines, the real GPU where there is
// one), the validator re-executes with the CPU reference. Δ_gpu vs Δ_cpu after a full round
// on real MNIST must sit well inside `tolerance`, and the GPU Δ must pass checkContribution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { createMlpTrainer } from '../../kernels/index.ts';
import { testGpu } from '../../kernels/test-gpu.ts';
import { loadMnist } from '../data/index.ts';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import { encodeUpdate } from '../../shared/codec.ts';
import { hashFrame } from '../../shared/codec.ts';
import { initParams, mlpSpec } from '../../shared/model.ts';
import { assignmentIndices, assignmentSeed } from '../../shared/assignment.ts';
import { checkContribution, referenceDelta, verificationOf } from './index.ts';
import { residualCommitment } from '../../shared/wire/index.ts';

test('GPU (Dawn) training vs the CPU reference: drift far inside the tolerance; an honest GPU update passes', { timeout: 600_000 }, async () => {
  const { ctx, cache } = await testGpu();
  const { train, test: heldOut } = loadMnist();
  const steps = Number(process.env.IDLEGRAD_GPU_DRIFT_STEPS ?? 25);
  const run = runSpecOf(
    1,
    { ...DEFAULT_RUN, inner: { ...DEFAULT_RUN.inner, state: 'round', steps } },
    { name: 'mnist', trainCount: train.count, testCount: heldOut.count, features: train.features, classes: train.classes },
  );
  const v = verificationOf(run);
  const spec = mlpSpec(run.sizes);
  const theta = initParams(spec, run.seed);
  const account = '0x00000000000000000000000000000000000000a1' as Address;
  const B = run.inner.batchSize;
  const idx = assignmentIndices(assignmentSeed(run.seed, 0, account), steps, B, run.dataset.trainCount);
  const trainer = createMlpTrainer(ctx.device, spec, { batchSize: B, cache });
  try {
    trainer.setData(train);
    const got = await trainer.train({ params: theta, batches: idx, steps, adamw: run.inner.adamw });
    const gpuDelta = theta.map((x, i) => x - got.params[i]);
    const cpuDelta = referenceDelta(run, theta, train, account, 0, steps);
    let d = 0;
    let n = 0;
    for (let i = 0; i < cpuDelta.length; i++) {
      d += (gpuDelta[i] - cpuDelta[i]) ** 2;
      n += cpuDelta[i] ** 2;
    }
    const drift = Math.sqrt(d / n);
    console.log(
      `[validator drift] ${ctx.adapter?.vendor ?? ''} ${ctx.adapter?.architecture ?? ''}: ‖Δ_gpu − Δ_cpu‖/‖Δ_cpu‖ = ${drift.toExponential(3)} after ${steps} steps (tolerance ${v.tolerance})`,
    );
    assert.ok(drift < v.tolerance / 10, `GPU drift ${drift} is not well inside the tolerance ${v.tolerance}`);

    const before = new Float32Array(theta.length);
    const { bytes, residual } = encodeUpdate(gpuDelta, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples: steps * B });
    const r = checkContribution(
      run,
      v,
      theta,
      train,
      heldOut,
      { account, round: 0, frameHash: hashFrame(bytes), residualHash: residualCommitment(before, residual), samples: steps * B, steps },
      { frame: bytes, residualBefore: before, residualAfter: residual },
    );
    assert.ok(r.passed, JSON.stringify(r));
  } finally {
    trainer.destroy();
  }
});
