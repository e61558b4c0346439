import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../shared/rng.ts';
import type { AdamWConfig } from '../../shared/mlp.ts';
import { assertClose, randomArray, testGpu } from '../test-gpu.ts';
import { adamw, ADAMW_HYPER, ADAMW_WG } from './adamw.ts';
import { adamwRef } from './adamw.ref.ts';

const { cache } = await testGpu();
const cfg: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

test('AdamW steps match shared/mlp.ts adamwStep (bias correction, decoupled decay)', async () => {
  const rand = createRng(8);
  for (const n of [1, ADAMW_WG + 3, 1000]) {
    type State = { params: Float32Array; m: Float32Array; v: Float32Array };
    let gpu: State = { params: randomArray(n, rand), m: new Float32Array(n), v: new Float32Array(n) };
    let cpu: State = { params: gpu.params.slice(), m: new Float32Array(n), v: new Float32Array(n) };
    // Three steps from zero state: t = 1 has the largest bias correction.
    for (let t = 1; t <= 3; t++) {
      const grad = randomArray(n, rand, -0.1, 0.1);
      gpu = await adamw(cache, { ...gpu, grad }, t, cfg);
      cpu = adamwRef({ ...cpu, grad }, t, cfg);
      // An update is ~lr·sign(g) whatever |g|: f32 rounding shows in θ at the scale of lr, not of θ.
      assertClose(gpu.params, cpu.params, { atol: cfg.lr * 1e-4, rtol: 1e-6 }, `n=${n} t=${t} params`);
      assertClose(gpu.m, cpu.m, { atol: 1e-9, rtol: 1e-5 }, `n=${n} t=${t} m`);
      assertClose(gpu.v, cpu.v, { atol: 1e-12, rtol: 1e-5 }, `n=${n} t=${t} v`);
    }
  }
});

test('an lr warm-up (cfg.warmupSteps) reaches the GPU uniform: each step matches the CPU reference at lr·t/W', async () => {
  const warm: AdamWConfig = { ...cfg, warmupSteps: 4 };
  const rand = createRng(11);
  const n = ADAMW_WG + 3;
  type State = { params: Float32Array; m: Float32Array; v: Float32Array };
  let gpu: State = { params: randomArray(n, rand), m: new Float32Array(n), v: new Float32Array(n) };
  let cpu: State = { params: gpu.params.slice(), m: new Float32Array(n), v: new Float32Array(n) };
  const full = { params: gpu.params.slice(), m: new Float32Array(n), v: new Float32Array(n) };
  const grad = randomArray(n, rand, -0.1, 0.1);
  for (let t = 1; t <= 3; t++) {
    gpu = await adamw(cache, { ...gpu, grad }, t, warm);
    cpu = adamwRef({ ...cpu, grad }, t, warm);
    assertClose(gpu.params, cpu.params, { atol: cfg.lr * 1e-4, rtol: 1e-6 }, `t=${t} params`);
  }
  // Without the warm-up the same first step is 4× as large.
  const noWarm = adamwRef({ ...full, grad }, 1, cfg);
  const warm1 = adamwRef({ ...full, grad }, 1, warm);
  assert.ok(Math.abs(full.params[0] - noWarm.params[0]) > 3 * Math.abs(full.params[0] - warm1.params[0]));
});

test('zero gradient and zero state leave only the weight decay', async () => {
  const params = Float32Array.from([1, -2, 0.5]);
  const zero = new Float32Array(3);
  const out = await adamw(cache, { params, grad: zero, m: zero, v: zero }, 1, cfg);
  assertClose(
    out.params,
    params.map((p) => p * (1 - cfg.lr * cfg.weightDecay)),
    { atol: 1e-7, rtol: 1e-6 },
    'decay only',
  );
});

test('the uniform layout is derived once: offsets, size, WGSL declaration', () => {
  assert.deepEqual(ADAMW_HYPER.offsets, {
    lr: 0,
    beta1: 4,
    beta2: 8,
    oneMinusBeta1: 12,
    oneMinusBeta2: 16,
    eps: 20,
    weightDecay: 24,
    biasCorrection1: 28,
    biasCorrection2: 32,
    maxGradNorm: 36,
    step: 40,
  });
  assert.equal(ADAMW_HYPER.size, 48);
  assert.match(ADAMW_HYPER.wgsl, /^struct AdamWHyper \{\n  lr: f32,\n[\s\S]*  step: u32,\n\}\n$/);
  assert.throws(() => ADAMW_HYPER.write(new DataView(new ArrayBuffer(48)), 0, { lr: 1 } as never), /beta1/);
});

test('clipping by global norm: Σ g² reduced on the GPU, the step matches the clipped CPU reference', async () => {
  const rand = createRng(9);
  // 3 × 1000 + 7 floats: many vec4s per invocation of the single reducing workgroup, padded tail.
  for (const [n, maxGradNorm] of [
    [3007, 0.5],
    [ADAMW_WG * 4 + 1, 100],
  ] as const) {
    const state = { params: randomArray(n, rand), m: randomArray(n, rand, 0, 1e-2), v: randomArray(n, rand, 0, 1e-4), grad: randomArray(n, rand, -0.1, 0.1) };
    const c = { ...cfg, maxGradNorm };
    const got = await adamw(cache, state, 2, c);
    const want = adamwRef(state, 2, c);
    const sumsq = state.grad.reduce((s, g) => s + g * g, 0);
    assertClose([got.sumsq!], [sumsq], { atol: 0, rtol: 1e-5 }, `n=${n} Σ g²`);
    assertClose(got.params, want.params, { atol: cfg.lr * 1e-4, rtol: 1e-6 }, `n=${n} clip ${maxGradNorm} params`);
    assertClose(got.m, want.m, { atol: 1e-9, rtol: 1e-5 }, `n=${n} clip ${maxGradNorm} m`);
    assertClose(got.v, want.v, { atol: 1e-12, rtol: 1e-5 }, `n=${n} clip ${maxGradNorm} v`);
  }
  // The first case clips (‖g‖ ≈ 1.8 > 0.5): its m must be the clipped gradient's, not the raw one's.
  const grad = Float32Array.from([3, 4, 0, 0]);
  const zero = new Float32Array(4);
  const out = await adamw(cache, { params: zero, grad, m: zero, v: zero }, 1, { ...cfg, maxGradNorm: 1 });
  assertClose(out.m, [0.1 * 0.6, 0.1 * 0.8, 0, 0], { atol: 1e-7, rtol: 1e-5 }, 'm after clipping ‖(3,4)‖ = 5 to 1');
});
