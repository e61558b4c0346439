import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdamWConfig } from '../shared/mlp.ts';
import { byteBatch, gptEvaluate, gptLossAndGrad, trainGptLocalCpu } from '../shared/gpt.ts';
import { gptSpec, GPT_DEFAULT, initParams } from '../shared/model.ts';
import { createRng } from '../shared/rng.ts';
import { createGptTrainer } from './gpt-trainer.ts';
import { deviceNeeds } from '../shared/device-needs.ts';
import { ATTENTION_DEFAULT, attentionChoice } from './attention/attention.ts';
import { MATMUL_DEFAULT, matmulUnsupported, setMatmulConfig } from './matmul/matmul.ts';
import { ROW_REDUCE_CANDIDATES, rowReduceChoice } from './row-reduce/row-reduce.ts';
import { assertClose, testGpu } from './test-gpu.ts';
import { grammarCorpus, unigramEntropy } from '../e2e/grammar-corpus.ts';

const { ctx, cache } = await testGpu();
const device = ctx.device;

// The trainer must match the reference with the device's defaults (tiled matmul, direct attention,
// a row per invocation), with what the autotune picks on SwiftShader (barrier-free matmul with
// subgroup quads, direct attention in 16s), and with the GPU-style forms (tiled attention,
// rows reduced across 8 lanes in workgroup memory).
// Last the defaults, so that the tests after these run with them, as before.
const choices: { name: string; apply(): void }[] = [
  {
    name: 'GPU-style variants',
    apply() {
      setMatmulConfig(device, { wg: [8, 8], tiled: true, bk: 16 });
      attentionChoice.set(device, { tiled: true, wg: 32, bk: 16, lanes: 1 });
      rowReduceChoice.set(device, { wg: 64, lanes: 8, subgroups: false });
    },
  },
  {
    name: 'SwiftShader autotune picks',
    apply() {
      const sg = !matmulUnsupported({ wg: [4, 16], tiled: false, bk: 0, subgroups: true }, device);
      setMatmulConfig(device, { wg: [4, 16], tiled: false, bk: 0, subgroups: sg });
      attentionChoice.set(device, { tiled: false, wg: 16, bk: 0, lanes: 1 });
      rowReduceChoice.set(device, ROW_REDUCE_CANDIDATES[0]);
    },
  },
  {
    name: 'defaults',
    apply() {
      setMatmulConfig(device, MATMUL_DEFAULT);
      attentionChoice.set(device, ATTENTION_DEFAULT);
      rowReduceChoice.set(device, ROW_REDUCE_CANDIDATES[0]);
    },
  },
];

for (const choice of choices) {
  test(`3 steps on a small GPT (T < context, clipped and unclipped) match trainGptLocalCpu — ${choice.name}`, async () => {
    choice.apply();
    const spec = gptSpec({ vocab: 11, context: 7, width: 8, layers: 2, heads: 2, hidden: 12 });
    const [B, T, steps] = [3, 5, 3];
    const rand = createRng(21);
    const tokens = Uint32Array.from({ length: steps * B * T }, () => Math.floor(rand() * 11));
    const targets = Uint32Array.from({ length: steps * B * T }, () => Math.floor(rand() * 11));
    const params = initParams(spec, 5).map((p) => p + (rand() - 0.5) * 0.2); // off the init's symmetric point
    const trainer = createGptTrainer(device, spec, { batchSize: B, seqLen: T, cache });
    try {
      for (const maxGradNorm of [0, 0.3]) {
        const cfg: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm };
        const got = await trainer.train({ params, tokens, targets, steps, adamw: cfg });
        const batches = Array.from({ length: steps }, (_, s) => ({
          tokens: tokens.subarray(s * B * T, (s + 1) * B * T),
          targets: targets.subarray(s * B * T, (s + 1) * B * T),
        }));
        const want = trainGptLocalCpu(spec, params, batches, B, T, cfg);
        assertClose(got.losses, want.losses, { atol: 1e-5, rtol: 1e-5 }, `losses (clip ${maxGradNorm}, ${choice.name})`);
        assertClose(got.params, want.params, { atol: 2e-5, rtol: 1e-4 }, `params (clip ${maxGradNorm}, ${choice.name})`);
      }
    } finally {
      trainer.destroy();
    }
  });
}

test('forwardLogits at a non-tile shape (B 3, T 5 < context 7, vocab 11) matches the CPU reference logits', async () => {
  const spec = gptSpec({ vocab: 11, context: 7, width: 12, layers: 2, heads: 3, hidden: 20 });
  const [B, T] = [3, 5];
  const rand = createRng(8);
  const tokens = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * 11));
  const params = initParams(spec, 9).map((p) => p + (rand() - 0.5) * 0.4);
  const trainer = createGptTrainer(device, spec, { batchSize: B, seqLen: T, cache });
  try {
    const got = await trainer.forwardLogits(params, tokens);
    const want = gptLossAndGrad(spec, params, tokens, tokens, B, T, false).logits;
    assert.equal(got.length, B * T * 11);
    assertClose(got, Float32Array.from(want), { atol: 1e-5, rtol: 1e-4 }, 'logits');
    await assert.rejects(trainer.forwardLogits(params, tokens.subarray(1)), /tokens has 14 ids, expected B 3 × T 5/);
  } finally {
    trainer.destroy();
  }
});

test('segmented rounds give bit-equal results; an abort stops between segments', async () => {
  const spec = gptSpec({ vocab: 11, context: 6, width: 8, layers: 1, heads: 2, hidden: 8 });
  const [B, T] = [2, 6];
  const trainer = createGptTrainer(device, spec, { batchSize: B, cache });
  try {
    const ids = (steps: number, k: number) => Uint32Array.from({ length: steps * B * T }, (_, i) => (i * k) % 11);
    const args = (steps: number) => ({
      params: initParams(spec, 3),
      tokens: ids(steps, 7),
      targets: ids(steps, 5),
      steps,
      adamw: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
    });
    const whole = await trainer.train(args(6));
    const split = await trainer.train({ ...args(6), segmentMs: 1e-6 });
    assert.deepEqual(split.params, whole.params);
    assert.deepEqual(split.losses, whole.losses);
    await assert.rejects(trainer.train({ ...args(3), segmentMs: 1e-6, signal: AbortSignal.abort() }), /stopped after 0 of 3 steps/);
    const stop = new AbortController();
    await assert.rejects(
      trainer.train({ ...args(20), segmentMs: 1e-6, signal: stop.signal, between: ({ stepsDone }) => void (stepsDone >= 2 && stop.abort()) }),
      (e: Error & { stepsDone?: number }) => e.name === 'TrainingAbortedError' && e.stepsDone === 2,
    );
    assert.deepEqual((await trainer.train(args(6))).params, whole.params, 'an aborted round left state behind');
    assert.throws(() => createGptTrainer(device, spec, { batchSize: 2, seqLen: 7 }), /seqLen must be in 1 … 6/);
    await assert.rejects(trainer.train({ ...args(1), tokens: ids(1, 7).fill(11, 3, 4) }), /tokens\[3\] = 11 is not < vocab 11/);
  } finally {
    trainer.destroy();
  }
});

test('the buffers a GPT trainer holds are what shared/device-needs.ts says a device needs (parameters, optimizer, activations)', () => {
  for (const [dims, B] of [
    [{ vocab: 11, context: 7, width: 8, layers: 2, heads: 2, hidden: 12 }, 3],
    [{ ...GPT_DEFAULT, layers: 1 }, 2],
  ] as const) {
    const spec = gptSpec(dims);
    const trainer = createGptTrainer(device, spec, { batchSize: B, cache });
    try {
      const n = deviceNeeds(spec, { steps: 1, batchSize: B });
      assert.equal(trainer.residentBytes, n.paramBytes + n.optimizerBytes + n.activationBytes, JSON.stringify(dims));
    } finally {
      trainer.destroy();
    }
  }
});

test('the default GPT trained on a generated grammar corpus gets below the unigram entropy (train and held out)', async (t) => {
  const spec = gptSpec(GPT_DEFAULT);
  const text = grammarCorpus(24_000, 7);
  const [train, held] = [text.subarray(0, 20_000), text.subarray(20_000)];
  const h1 = unigramEntropy(train);
  const [B, T, rounds, steps] = [8, 32, 2, 12];
  const trainer = createGptTrainer(device, spec, { batchSize: B, seqLen: T, cache });
  const rand = createRng(3);
  let params = initParams(spec, 1);
  const cfg: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };
  const losses: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const starts = Uint32Array.from({ length: steps * B }, () => Math.floor(rand() * (train.length - T - 1)));
      const { tokens, targets } = byteBatch(train, starts, T);
      const res = await trainer.train({ params, tokens, targets, steps, adamw: cfg });
      params = res.params;
      losses.push(...res.losses);
      t.diagnostic(`round ${r}: loss ${res.losses[0].toFixed(3)} → ${res.losses[steps - 1].toFixed(3)} (${(res.gpuMs / steps).toFixed(0)} ms/step)`);
    }
  } finally {
    trainer.destroy();
  }
  const tail = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  const heldOut = gptEvaluate(spec, params, held, T, 16).loss;
  t.diagnostic(
    `unigram entropy ${h1.toFixed(3)} nats; initial loss ${losses[0].toFixed(3)}; mean of last 5 train losses ${tail.toFixed(3)}; held-out ${heldOut.toFixed(3)}`,
  );
  assert.ok(losses[0] > h1, `the untrained model (${losses[0]}) already beat the unigram entropy ${h1}: the check would be vacuous`);
  assert.ok(tail < h1, `train loss ${tail} not below unigram entropy ${h1}`);
  assert.ok(heldOut < h1, `held-out loss ${heldOut} not below unigram entropy ${h1}`);
});
