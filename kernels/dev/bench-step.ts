// dev: ms per GPT training step (forward + backward + clipped AdamW) in Node/Dawn, at a preset's
// dims, with the kernel variants the autotune picks here (or the defaults with --no-tune).
//   node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/bench-step.ts [micro|small|base] [batch] [steps] [--no-tune]
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { GPT_BASE, GPT_DEFAULT, GPT_SMALL, gptSpec, initParams } from '../../shared/model.ts';
import { createRng } from '../../shared/rng.ts';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { createGptTrainer } from '../gpt-trainer.ts';
import { autotuneKernels } from '../autotune.ts';

useSwiftShaderWhenNoDriver();
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dims = { micro: GPT_DEFAULT, small: GPT_SMALL, base: GPT_BASE }[args[0] ?? 'micro'];
if (!dims) throw new Error(`unknown preset ${args[0]}: micro, small or base`);
const B = Number(args[1] ?? 8);
const steps = Number(args[2] ?? 3);
const ctx = await acquireDevice(createNodeGpu());
if (!process.argv.includes('--no-tune')) {
  const t0 = performance.now();
  const tune = await autotuneKernels(ctx, { gpt: { dims, batch: B } });
  console.log(`autotune ${(performance.now() - t0).toFixed(0)} ms: ${JSON.stringify(tune.choice)}`);
}
const spec = gptSpec(dims);
const T = dims.context;
const trainer = createGptTrainer(ctx.device, spec, { batchSize: B });
const rand = createRng(2);
const params = initParams(spec, 1);
const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
const round = async (n: number) => {
  const stream = Uint32Array.from({ length: n * B * T + 1 }, () => Math.floor(rand() * dims.vocab));
  const t0 = performance.now();
  const r = await trainer.train({ params, tokens: stream.subarray(0, n * B * T), targets: stream.subarray(1), steps: n, adamw });
  return { ms: performance.now() - t0, loss: r.losses[n - 1] };
};
await round(1); // warm-up: pipelines, buffers
const r = await round(steps);
console.log(
  `gpt ${JSON.stringify(dims)} (${spec.paramCount} params) batch ${B}: ${(r.ms / steps).toFixed(0)} ms/step, ${((steps * B * T * 1000) / r.ms).toFixed(1)} tokens/s (loss ${r.loss.toFixed(3)})`,
);
trainer.destroy();
ctx.device.destroy();
