// Worker side of `npm run bench` (kernels/dev/bench.ts): in one Chromium worker, on the one adapter
// there is, time matmul in our kernels, onnxruntime-web (WebGPU EP, a one-MatMul ONNX model from
// shared/onnx.ts) and TensorFlow.js (WebGPU backend), then full training steps of ours vs TFJS.
//
// Like with like: operands live on the GPU for all three (uploaded before timing); a timed run
// issues `n` matmuls the framework's ordinary way (ours: n dispatches in one pass, as our
// trainers encode a round; ORT: n session.run calls with GPU-buffer inputs and outputs; TFJS: n
// tf.matMul calls, which its backend batches into command buffers) and ends when the GPU is done
// (ours, ORT: queue.onSubmittedWorkDone; TFJS: a 1×1 slice of the last product read back). Training steps: the dataset is
// resident on the GPU; a round of steps ends with one readback for both (ours: params + losses;
// TFJS: the last loss). Warm-up runs are excluded; figures are medians of `reps` runs. Our
// matmul's output is checked against the CPU reference once per shape before it is timed.
import * as ort from 'onnxruntime-web/webgpu';
import { matmulOnnxModel } from '../../shared/onnx.ts';
import { GPT_DEFAULT, gptSpec, initParams, mlpSpec } from '../../shared/model.ts';
import { createRng } from '../../shared/rng.ts';
import { randomDataset } from '../conformance.ts';
import { acquireDevice, type AdapterSummary, type GpuContext } from '../device.ts';
import { closeness, describeCloseness } from '../compare.ts';
import { createBindGroup, encodeDispatch, readBuffer } from '../kernel.ts';
import { matmulRef } from '../matmul/matmul.ref.ts';
import { autotuneMatmul } from '../matmul/autotune.ts';
import { matmulConfigFor, matmulKernel, type MatmulConfig, type MatmulShape } from '../matmul/matmul.ts';
import { createMlpTrainer } from '../mlp-trainer.ts';
import { createGptTrainer } from '../gpt-trainer.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { tfjsGpt, tfjsMatmul, tfjsMlp, tfjsReady, type GptShape, type TfjsTrainer } from './bench-tfjs.ts';

export interface BenchInput {
  /** Where the worker fetches onnxruntime-web's .wasm/.mjs files (served by bench.ts). */
  ortPath: string;
  reps: number;
  /** A timed matmul run lasts at least about this long (n grows until it does). */
  minRunMs: number;
  /** Training steps per timed round: MLP, GPT. */
  steps: number;
  gptSteps: number;
}

export interface MatmulRow {
  name: string;
  shape: MatmulShape;
  /** GFLOP/s, 2·M·N·K per matmul; null where that framework failed (see `errors`). */
  ours: number | null;
  ort: number | null;
  tfjs: number | null;
}

export interface StepRow {
  model: string;
  /** Samples (MLP) or sequences (GPT) per second. */
  ours: number | null;
  tfjs: number | null;
  batch: number;
}

export type BenchOutput =
  | {
      type: 'bench';
      adapter: AdapterSummary;
      tfjsAdapter: string;
      config: MatmulConfig;
      tuneSource: string;
      matmul: MatmulRow[];
      step: StepRow[];
      notes: string[];
    }
  | { type: 'error'; name: string; message: string };

/** The GPT preset's default dims (shared/model.ts GPT_DEFAULT): 2 layers, width 64, 4 heads, context 64, MLP 256, bytes. */
export const GPT_BENCH: GptShape = { ...GPT_DEFAULT };
const GPT_BATCH = 8;
const MLP_SIZES = [784, 64, 10];
const MLP_BATCH = 32;

/** MLP 784-64-10 at batch 32, GPT rows B·T = 512, and the square shapes. */
export function benchShapes(adapter: AdapterSummary): { name: string; shape: MatmulShape }[] {
  const rows = GPT_BATCH * GPT_BENCH.context;
  const { width: C, hidden: Hd } = GPT_BENCH;
  const squares = adapter.architecture === 'swiftshader' ? [512] : [512, 1024, 4096];
  return [
    { name: 'mlp fwd x·W0', shape: { M: MLP_BATCH, N: 64, K: 784 } },
    { name: 'mlp fwd h·W1', shape: { M: MLP_BATCH, N: 10, K: 64 } },
    { name: 'mlp dW1 = hᵀ·dz', shape: { M: 64, N: 10, K: MLP_BATCH, transA: true } },
    { name: 'mlp dh = dz·W1ᵀ', shape: { M: MLP_BATCH, N: 64, K: 10, transB: true } },
    { name: 'mlp dW0 = xᵀ·dz', shape: { M: 784, N: 64, K: MLP_BATCH, transA: true } },
    { name: 'gpt qkv x·Wqkv', shape: { M: rows, N: 3 * C, K: C } },
    { name: 'gpt mlp-up / lm-head', shape: { M: rows, N: Hd, K: C } },
    { name: 'gpt mlp-down', shape: { M: rows, N: C, K: Hd } },
    { name: 'gpt dW_up = xᵀ·dy', shape: { M: C, N: Hd, K: rows, transA: true } },
    { name: 'gpt dx_qkv = dy·Wqkvᵀ', shape: { M: rows, N: C, K: 3 * C, transB: true } },
    ...squares.map((n) => ({ name: `square ${n}³`, shape: { M: n, N: n, K: n } })),
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

type Runner = (n: number) => Promise<void>;

/**
 * GFLOP/s of each runner's `run(n)` (n matmuls of `shape`): a warm-up, n grown until a run lasts
 * minRunMs, then `reps` rounds that time every runner once each, interleaved, so that other load
 * on the machine falls on all of them alike; the median per runner.
 */
async function gflops<Name extends string>(shape: MatmulShape, input: BenchInput, runners: Record<Name, Runner | null>): Promise<Record<Name, number | null>> {
  const live = (Object.entries(runners) as [Name, Runner | null][]).filter((e): e is [Name, Runner] => e[1] !== null);
  const counts = new Map<Name, number>();
  for (const [name, run] of live) {
    await run(1); // warm-up: pipelines, allocations
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      await run(n);
      const ms = performance.now() - t0;
      if (ms >= input.minRunMs || n >= 256) break;
      n = Math.min(256, n * Math.max(2, Math.ceil(input.minRunMs / Math.max(ms, 1))));
    }
    counts.set(name, n);
  }
  const times = new Map<Name, number[]>(live.map(([name]) => [name, []]));
  for (let r = 0; r < input.reps; r++) {
    for (const [name, run] of live) {
      const n = counts.get(name)!;
      const t0 = performance.now();
      await run(n);
      times.get(name)!.push((performance.now() - t0) / n);
    }
  }
  const out = {} as Record<Name, number | null>;
  for (const name of Object.keys(runners) as Name[]) {
    const t = times.get(name);
    out[name] = t ? (2 * shape.M * shape.N * shape.K) / median(t) / 1e6 : null;
  }
  return out;
}

function oursMatmul(ctx: GpuContext, cache: PipelineCache, s: MatmulShape) {
  const { device } = ctx;
  const size = (n: number) => Math.ceil((n * 4) / 16) * 16;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const bufs = {
    a: device.createBuffer({ size: size(s.M * s.K), usage }),
    b: device.createBuffer({ size: size(s.K * s.N), usage }),
    c: device.createBuffer({ size: size(s.M * s.N), usage }),
  };
  const rand = createRng(7);
  const a = Float32Array.from({ length: s.M * s.K }, () => rand() - 0.5);
  const b = Float32Array.from({ length: s.K * s.N }, () => rand() - 0.5);
  device.queue.writeBuffer(bufs.a, 0, a);
  device.queue.writeBuffer(bufs.b, 0, b);
  const kernel = matmulKernel(cache, s);
  const group = createBindGroup(device, kernel, bufs);
  return {
    /** Throws unless one run's C matches the CPU reference: a wrong kernel gets no figure. */
    async check() {
      await this.run(1);
      const got = new Float32Array(await readBuffer(device, bufs.c, 0, s.M * s.N * 4));
      const tol = { atol: 1e-4, rtol: 1e-4 };
      const c = closeness(got, matmulRef(a, b, s), tol);
      if (!c.ok) throw new Error(describeCloseness(`our matmul ${JSON.stringify(s)} vs the CPU reference`, c, tol));
    },
    async run(n: number) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < n; i++) encodeDispatch(pass, kernel, group);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    },
    dispose: () => Object.values(bufs).forEach((b) => b.destroy()),
  };
}

/** ORT has no transposed MatMul input: a transposed layout runs as the plain MatMul of the same M, K, N. */
async function ortMatmul(s: MatmulShape) {
  const session = await ort.InferenceSession.create(matmulOnnxModel(s.M, s.K, s.N), {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
  });
  const device = (await ort.env.webgpu.device) as GPUDevice;
  const upload = (rows: number, cols: number) => {
    const buf = device.createBuffer({
      size: Math.ceil((rows * cols * 4) / 16) * 16,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const rand = createRng(rows * 31 + cols);
    device.queue.writeBuffer(
      buf,
      0,
      Float32Array.from({ length: rows * cols }, () => rand() - 0.5),
    );
    return { buf, tensor: ort.Tensor.fromGpuBuffer(buf, { dataType: 'float32', dims: [rows, cols] }) };
  };
  const A = upload(s.M, s.K),
    B = upload(s.K, s.N);
  return {
    async run(n: number) {
      for (let i = 0; i < n; i++) {
        const out = await session.run({ A: A.tensor, B: B.tensor });
        out.C.dispose();
      }
      await device.queue.onSubmittedWorkDone();
    },
    async dispose() {
      await session.release();
      A.buf.destroy();
      B.buf.destroy();
    },
  };
}

async function trainerRate(round: (steps: number) => Promise<unknown>, samplesPerStep: number, steps: number, input: BenchInput): Promise<number> {
  await round(2); // warm-up: pipelines, buffers, shader JIT
  const rates: number[] = [];
  for (let r = 0; r < input.reps; r++) {
    const t0 = performance.now();
    await round(steps);
    rates.push((steps * samplesPerStep * 1000) / (performance.now() - t0));
  }
  return median(rates);
}

async function oursMlpStep(ctx: GpuContext, input: BenchInput): Promise<number> {
  const spec = mlpSpec(MLP_SIZES);
  const rand = createRng(1);
  const count = 8500;
  const trainer = createMlpTrainer(ctx.device, spec, { batchSize: MLP_BATCH });
  try {
    trainer.setData(randomDataset(count, MLP_SIZES[0], MLP_SIZES[MLP_SIZES.length - 1], rand));
    const params = initParams(spec, 1);
    const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    return await trainerRate(
      async (steps) => {
        const batches = Uint32Array.from({ length: steps * MLP_BATCH }, () => Math.floor(rand() * count));
        await trainer.train({ params, batches, steps, adamw });
      },
      MLP_BATCH,
      input.steps,
      input,
    );
  } finally {
    trainer.destroy();
  }
}

/** Ours: the GPT training step (kernels/gpt-trainer.ts) at GPT_BENCH, batch GPT_BATCH, AdamW clipped at norm 1. */
async function oursGptStep(ctx: GpuContext, input: BenchInput): Promise<number> {
  const spec = gptSpec(GPT_BENCH);
  const T = GPT_BENCH.context;
  const rand = createRng(2);
  const trainer = createGptTrainer(ctx.device, spec, { batchSize: GPT_BATCH, seqLen: T });
  try {
    const params = initParams(spec, 1);
    const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
    return await trainerRate(
      async (steps) => {
        // A random byte stream: tokens and their next-byte targets, (steps, B, T).
        const n = steps * GPT_BATCH * T;
        const stream = Uint32Array.from({ length: n + 1 }, () => Math.floor(rand() * GPT_BENCH.vocab));
        await trainer.train({ params, tokens: stream.subarray(0, n), targets: stream.subarray(1), steps, adamw });
      },
      GPT_BATCH,
      input.gptSteps,
      input,
    );
  } finally {
    trainer.destroy();
  }
}

async function tfjsRate(make: () => TfjsTrainer, samplesPerStep: number, steps: number, input: BenchInput): Promise<number> {
  const t = make();
  try {
    return await trainerRate((n) => t.round(n), samplesPerStep, steps, input);
  } finally {
    t.dispose();
  }
}

async function attempt<T>(what: string, notes: string[], fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (e) {
    notes.push(`${what} failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return null;
  }
}

export async function runBench(gpu: GPU, input: BenchInput): Promise<BenchOutput> {
  const notes: string[] = [];
  const log = (line: string) => console.log(`[bench] ${line}`);
  const ctx = await acquireDevice(gpu, { label: 'bench' });
  const tuneStart = performance.now();
  const tune = await autotuneMatmul(ctx);
  log(
    `autotune (${tune.source}, ${(performance.now() - tuneStart).toFixed(0)} ms): ${JSON.stringify(tune.config)}${tune.timings ? ' ' + tune.timings.map((t) => `${JSON.stringify(t.config)} ${t.ms.toFixed(1)} ms`).join('; ') : ''}`,
  );
  const cache = new PipelineCache(ctx.device);
  ort.env.wasm.wasmPaths = input.ortPath;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const tfInfo = await tfjsReady();
  const tfjsAdapter = tfInfo ? `${tfInfo.vendor}/${tfInfo.architecture}` : 'unknown';

  const matmul: MatmulRow[] = [];
  for (const { name, shape } of benchShapes(ctx.adapter)) {
    const ours = await attempt(`ours ${name} setup`, notes, async () => {
      const m = oursMatmul(ctx, cache, shape);
      try {
        await cache.ready();
        await m.check();
        return m;
      } catch (e) {
        m.dispose();
        throw e;
      }
    });
    const ortM = await attempt(`onnxruntime-web ${name} setup`, notes, () => ortMatmul(shape));
    const tfjsM = await attempt(`tfjs ${name} setup`, notes, async () => tfjsMatmul(shape));
    const g = await attempt(`timing ${name}`, notes, () => gflops(shape, input, { ours: ours?.run ?? null, ort: ortM?.run ?? null, tfjs: tfjsM?.run ?? null }));
    ours?.dispose();
    await ortM?.dispose();
    tfjsM?.dispose();
    const row = { name, shape, ours: g?.ours ?? null, ort: g?.ort ?? null, tfjs: g?.tfjs ?? null };
    matmul.push(row);
    log(`${name} ${JSON.stringify(shape)}: ours ${row.ours?.toFixed(3)} ort ${row.ort?.toFixed(3)} tfjs ${row.tfjs?.toFixed(3)} GFLOP/s`);
  }

  const step: StepRow[] = [];
  {
    const ours = await attempt('ours mlp step', notes, () => oursMlpStep(ctx, input));
    const tfjs = await attempt('tfjs mlp step', notes, () => tfjsRate(() => tfjsMlp(MLP_SIZES, MLP_BATCH), MLP_BATCH, input.steps, input));
    step.push({ model: 'mlp-784-64-10', ours, tfjs, batch: MLP_BATCH });
    log(`mlp step: ours ${ours?.toFixed(0)} tfjs ${tfjs?.toFixed(0)} samples/s`);
  }
  {
    const ours = await attempt('ours gpt step', notes, () => oursGptStep(ctx, input));
    const tfjs = await attempt('tfjs gpt step', notes, () => tfjsRate(() => tfjsGpt(GPT_BENCH, GPT_BATCH), GPT_BATCH, input.gptSteps, input));
    step.push({ model: 'gpt-2x64-h4-t64', ours, tfjs, batch: GPT_BATCH });
    log(`gpt step: ours ${ours?.toFixed(1)} tfjs ${tfjs?.toFixed(1)} sequences/s`);
  }
  ctx.device.destroy();
  return { type: 'bench', adapter: ctx.adapter, tfjsAdapter, config: matmulConfigFor(ctx.device), tuneSource: tune.source, matmul, step, notes };
}

// In a worker: answer one message carrying a BenchInput.
const scope = globalThis as unknown as Partial<DedicatedWorkerGlobalScope>;
if (typeof scope.importScripts === 'function' && scope.navigator?.gpu !== undefined) {
  scope.onmessage = async (e: MessageEvent<BenchInput>) => {
    let out: BenchOutput;
    try {
      out = await runBench(scope.navigator!.gpu, e.data);
    } catch (err) {
      const x = err instanceof Error ? err : new Error(String(err));
      out = { type: 'error', name: x.name, message: `${x.message}\n${x.stack ?? ''}` };
    }
    scope.postMessage!(out);
  };
}
