// `npm run sim -- --speed [--dawn] [--json]`: how fast the simulator's trainers run here. The CPU
// reference (shared/mlp.ts, shared/gpt.ts) is what `npm run sim`, the validator's CPU
// re-execution and the page's no-WebGPU path train with; `--dawn` adds the WGSL trainers
// (kernels/) through Dawn in Node at the same shapes, the other way the sim could train.
// Figures: ms per training step (forward, backward, AdamW), medians of timed repeats after a
// warm-up, as wall time and as this process's CPU time (all its threads: Dawn on SwiftShader
// runs a thread pool). The machine is shared; other load shows in the wall time first.
import { register } from 'node:module';
import { trainLocalCpu, type AdamWConfig, type Dataset } from '../shared/mlp.ts';
import { trainGptLocalCpu } from '../shared/gpt.ts';
import { gptSpec, initParams, mlpSpec } from '../shared/model.ts';
import { createRng } from '../shared/rng.ts';
import { loadMnist } from '../coordinator/data/index.ts';
import { cliOutput, parseCli, type CliOption, type CliSpec } from '../shared/cli.ts';

const adamw: AdamWConfig = { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };

export interface SpeedRow {
  trainer: 'cpu' | 'dawn';
  shape: string;
  wallMsPerStep: number;
  cpuMsPerStep: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function timeSteps(run: () => unknown, steps: number, repeats: number): Promise<{ wallMsPerStep: number; cpuMsPerStep: number }> {
  await run(); // warm-up: JIT, pipelines
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const [w0, c0] = [performance.now(), cpuMs()];
    await run();
    wall.push((performance.now() - w0) / steps);
    cpu.push((cpuMs() - c0) / steps);
  }
  return { wallMsPerStep: median(wall), cpuMsPerStep: median(cpu) };
}

export async function measureSpeed(opts: { dawn: boolean; onRow?: (r: SpeedRow) => void }): Promise<SpeedRow[]> {
  const rows: SpeedRow[] = [];
  const add = (r: SpeedRow) => {
    rows.push(r);
    opts.onRow?.(r);
  };
  const rand = createRng(3);
  const { train } = loadMnist();
  const mlp = mlpSpec([784, 64, 10]);
  const mlpCases = [32, 1024].map((B) => {
    const steps = B >= 1024 ? 2 : 20;
    return { B, steps, indices: Uint32Array.from({ length: steps * B }, () => Math.floor(rand() * train.count)) };
  });
  const gpt = gptSpec();
  const T = gpt.dims.context;
  const gptCases = [8, 32].map((B) => {
    const steps = 2;
    const ids = () => Uint32Array.from({ length: steps * B * T }, () => Math.floor(rand() * 256));
    return { B, steps, tokens: ids(), targets: ids() };
  });
  const batchesOf = (idx: Uint32Array, steps: number, n: number) => Array.from({ length: steps }, (_, s) => idx.subarray(s * n, (s + 1) * n));

  for (const c of mlpCases) {
    const p = initParams(mlp, 1);
    const batches = batchesOf(c.indices, c.steps, c.B);
    add({ trainer: 'cpu', shape: `mlp 784-64-10 batch ${c.B}`, ...(await timeSteps(() => trainLocalCpu(mlp, p, train, batches, adamw), c.steps, 5)) });
  }
  for (const c of gptCases) {
    const p = initParams(gpt, 1);
    const batches = Array.from({ length: c.steps }, (_, s) => ({
      tokens: batchesOf(c.tokens, c.steps, c.B * T)[s],
      targets: batchesOf(c.targets, c.steps, c.B * T)[s],
    }));
    add({ trainer: 'cpu', shape: `gpt 2×64 T64 batch ${c.B}`, ...(await timeSteps(() => trainGptLocalCpu(gpt, p, batches, c.B, T, adamw), c.steps, 3)) });
  }
  if (!opts.dawn) return rows;

  const { useSwiftShaderWhenNoDriver } = await import('../kernels/swiftshader.ts');
  useSwiftShaderWhenNoDriver();
  register('../kernels/wgsl-hooks.mjs', import.meta.url); // `.wgsl?raw` imports, as kernels/wgsl-register.mjs
  const { createNodeGpu } = await import('../kernels/node-gpu.ts');
  const { acquireDevice } = await import('../kernels/device.ts');
  const { PipelineCache } = await import('../kernels/pipeline-cache.ts');
  const { createMlpTrainer } = await import('../kernels/mlp-trainer.ts');
  const { createGptTrainer } = await import('../kernels/gpt-trainer.ts');
  const ctx = await acquireDevice(createNodeGpu());
  const cache = new PipelineCache(ctx.device);
  try {
    for (const c of mlpCases) {
      const t = createMlpTrainer(ctx.device, mlp, { batchSize: c.B, cache });
      t.setData(train);
      const p = initParams(mlp, 1);
      add({
        trainer: 'dawn',
        shape: `mlp 784-64-10 batch ${c.B}`,
        ...(await timeSteps(() => t.train({ params: p, batches: c.indices, steps: c.steps, adamw }), c.steps, 5)),
      });
      t.destroy();
    }
    for (const c of gptCases) {
      const t = createGptTrainer(ctx.device, gpt, { batchSize: c.B, cache });
      const p = initParams(gpt, 1);
      add({
        trainer: 'dawn',
        shape: `gpt 2×64 T64 batch ${c.B}`,
        ...(await timeSteps(() => t.train({ params: p, tokens: c.tokens, targets: c.targets, steps: c.steps, adamw }), c.steps, 3)),
      });
      t.destroy();
    }
  } finally {
    ctx.device.destroy();
  }
  return rows;
}

export const SIM_SPEED_CLI = {
  command: 'npm run sim -- --speed',
  summary: 'Times the trainers the simulator could use (CPU reference; with --dawn also the WGSL kernels through Dawn).',
  options: {
    json: { type: 'boolean', help: 'stdout holds only the rows as one JSON object' },
    dawn: { type: 'boolean', help: 'also time the WGSL trainers through Dawn' },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

/** `npm run sim -- --speed` (argv without --speed): a measurement with no bar, so no failed check. */
export async function speedMain(argv: string[]): Promise<string[]> {
  const values = parseCli(SIM_SPEED_CLI, argv);
  const out = cliOutput(!!values.json);
  const rows = await measureSpeed({
    dawn: !!values.dawn,
    onRow: (r) =>
      out.summary(
        `${r.trainer.padEnd(5)} ${r.shape.padEnd(26)} ${r.wallMsPerStep.toFixed(1).padStart(8)} ms/step wall ${r.cpuMsPerStep.toFixed(1).padStart(8)} ms/step CPU`,
      ),
  });
  out.json({ rows });
  return [];
}
