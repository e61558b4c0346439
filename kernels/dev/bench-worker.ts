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
// Rows at two model sizes: the GPT preset's default dims (gpt-micro) and gpt-small (6 × 384,
// context 256), whose training step is slow enough on SwiftShader (tens of seconds for TFJS)
// that it runs `smallSteps` steps per round and `smallReps` rounds. The fused attention row
// times ours alone (forward + backward at gpt-small's width and heads, one sequence) at
// contexts 256 and 1024, per token. Every kernel variant is the one autotuneKernels picks here.
import * as ort from 'onnxruntime-web/webgpu';
import { matmulOnnxModel } from '../../shared/onnx.ts';
import { GPT_DEFAULT, GPT_SMALL, gptSpec, initParams, mlpSpec, type GptDims } from '../../shared/model.ts';
import { createRng } from '../../shared/rng.ts';
import { randomDataset } from '../conformance.ts';
import { acquireDevice, type AdapterSummary, type GpuContext } from '../device.ts';
import { closeness, describeCloseness } from '../compare.ts';
import { createBindGroup, encodeDispatch, readBuffer } from '../kernel.ts';
import { attentionBackwardRef, attentionForwardRef } from '../attention/attention.ref.ts';
import { matmulRef } from '../matmul/matmul.ref.ts';
import { autotuneKernels, type KernelChoice } from '../autotune.ts';
import { attentionBackwardKernels, attentionForwardKernel, type AttentionShape } from '../attention/attention.ts';
import { matmulConfigFor, matmulKernel, type MatmulConfig, type MatmulShape } from '../matmul/matmul.ts';
import { createMlpTrainer } from '../mlp-trainer.ts';
import { createGptTrainer } from '../gpt-trainer.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { tfjsGpt, tfjsMatmul, tfjsMlp, tfjsReady, type GptShape } from './bench-tfjs.ts';

export interface BenchInput {
  /** Where the worker fetches onnxruntime-web's .wasm/.mjs files (served by bench.ts). */
  ortPath: string;
  reps: number;
  /** A timed matmul run lasts at least about this long (n grows until it does). */
  minRunMs: number;
  /** Training steps per timed round: MLP, GPT. */
  steps: number;
  gptSteps: number;
  /** gpt-small: steps per timed round and timed rounds (after a 1-step warm-up round). */
  smallSteps: number;
  smallReps: number;
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
  /** Tokens per sequence (GPT; MLP 0). */
  seqLen: number;
}

export interface AttentionRow {
  shape: AttentionShape;
  /** Fused forward + backward, ms per call and µs per token (B·T tokens); null if it failed. */
  ms: number | null;
  usPerToken: number | null;
}

export type BenchOutput =
  | {
      type: 'bench';
      adapter: AdapterSummary;
      tfjsAdapter: string;
      config: MatmulConfig;
      choice: KernelChoice;
      tuneSource: string;
      matmul: MatmulRow[];
      step: StepRow[];
      attention: AttentionRow[];
      notes: string[];
    }
  | { type: 'error'; name: string; message: string };

/** The GPT preset's default dims (shared/model.ts GPT_DEFAULT): 2 layers, width 64, 4 heads, context 64, MLP 256, bytes. */
export const GPT_BENCH: GptShape = { ...GPT_DEFAULT };
const GPT_BATCH = 8;
/** gpt-small (shared/model.ts GPT_SMALL): 6 layers, width 384, 6 heads, context 256, MLP 1536; one sequence of 256 tokens a step. */
const SMALL_BENCH: GptShape = { ...GPT_SMALL };
const SMALL_BATCH = 1;
const ATTENTION_CONTEXTS = [256, 1024];
const MLP_SIZES = [784, 64, 10];
const MLP_BATCH = 32;

/** MLP 784-64-10 at batch 32, GPT rows B·T = 512, gpt-small rows B·T = 256, and the square shapes. */
export function benchShapes(adapter: AdapterSummary): { name: string; shape: MatmulShape }[] {
  const rows = GPT_BATCH * GPT_BENCH.context;
  const { width: C, hidden: Hd } = GPT_BENCH;
  const small = SMALL_BATCH * SMALL_BENCH.context;
  const { width: Cs, hidden: Hs, vocab: Vs } = SMALL_BENCH;
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
    { name: 'small qkv x·Wqkv', shape: { M: small, N: 3 * Cs, K: Cs } },
    { name: 'small mlp-up', shape: { M: small, N: Hs, K: Cs } },
    { name: 'small mlp-down', shape: { M: small, N: Cs, K: Hs } },
    { name: 'small lm-head', shape: { M: small, N: Vs, K: Cs } },
    { name: 'small dW_up = xᵀ·dy', shape: { M: Cs, N: Hs, K: small, transA: true } },
    { name: 'small dx_qkv = dy·Wqkvᵀ', shape: { M: small, N: Cs, K: 3 * Cs, transB: true } },
    ...squares.map((n) => ({ name: `square ${n}³`, shape: { M: n, N: n, K: n } })),
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

type Runner = (n: number) => Promise<void>;

/** GFLOP/s of each runner's `run(n)` (n matmuls of `shape`), timed by msPerRun. */
async function gflops<Name extends string>(shape: MatmulShape, input: BenchInput, runners: Record<Name, Runner | null>): Promise<Record<Name, number | null>> {
  const ms = await msPerRun(input, runners);
  const out = {} as Record<Name, number | null>;
  for (const name of Object.keys(runners) as Name[]) out[name] = ms[name] === null ? null : (2 * shape.M * shape.N * shape.K) / ms[name]! / 1e6;
  return out;
}

/**
 * Median ms per operation of each runner's `run(n)` (n operations): a warm-up, n grown until a
 * run lasts minRunMs, then `reps` rounds that time every runner once each, interleaved, so that
 * other load on the machine falls on all of them alike.
 */
async function msPerRun<Name extends string>(input: BenchInput, runners: Record<Name, Runner | null>): Promise<Record<Name, number | null>> {
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
    out[name] = t ? median(t) : null;
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

/** What both frameworks' trainers offer the step timing: `round(steps)` ends with one readback. */
interface RoundTrainer {
  round(steps: number): Promise<unknown>;
  dispose(): void;
}

/**
 * Samples/s of ours and TFJS at one model: a warm-up round each (pipelines, buffers, shader
 * JIT), then `reps` rounds of `steps` steps alternating between the two, so that other load on
 * the machine falls on both alike; the median per framework.
 */
async function stepRates(
  what: string,
  notes: string[],
  make: { ours: () => RoundTrainer; tfjs: () => RoundTrainer },
  samplesPerStep: number,
  steps: number,
  reps: number,
  warmup: number,
): Promise<{ ours: number | null; tfjs: number | null }> {
  const live: [keyof typeof make, RoundTrainer][] = [];
  for (const name of ['ours', 'tfjs'] as const) {
    const t = await attempt(`${name} ${what} setup`, notes, async () => {
      const trainer = make[name]();
      await trainer.round(warmup);
      return trainer;
    });
    if (t) live.push([name, t]);
  }
  const rates = new Map<string, number[]>(live.map(([name]) => [name, []]));
  try {
    for (let r = 0; r < reps; r++) {
      for (const [name, t] of live) {
        const t0 = performance.now();
        await t.round(steps);
        rates.get(name)!.push((steps * samplesPerStep * 1000) / (performance.now() - t0));
      }
    }
  } catch (e) {
    notes.push(`${what} timing failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return { ours: null, tfjs: null };
  } finally {
    for (const [, t] of live) t.dispose();
  }
  const rate = (name: string) => (rates.has(name) ? median(rates.get(name)!) : null);
  return { ours: rate('ours'), tfjs: rate('tfjs') };
}

function oursMlp(ctx: GpuContext): RoundTrainer {
  const spec = mlpSpec(MLP_SIZES);
  const rand = createRng(1);
  const count = 8500;
  const trainer = createMlpTrainer(ctx.device, spec, { batchSize: MLP_BATCH });
  trainer.setData(randomDataset(count, MLP_SIZES[0], MLP_SIZES[MLP_SIZES.length - 1], rand));
  const params = initParams(spec, 1);
  const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  return {
    round: (steps) => trainer.train({ params, batches: Uint32Array.from({ length: steps * MLP_BATCH }, () => Math.floor(rand() * count)), steps, adamw }),
    dispose: () => trainer.destroy(),
  };
}

/** Ours: the GPT training step (kernels/gpt-trainer.ts) at `dims`, `batch` sequences of the full context, AdamW clipped at norm 1. */
function oursGpt(ctx: GpuContext, dims: GptDims, batch: number): RoundTrainer {
  const spec = gptSpec(dims);
  const T = dims.context;
  const rand = createRng(2);
  const trainer = createGptTrainer(ctx.device, spec, { batchSize: batch, seqLen: T });
  const params = initParams(spec, 1);
  const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
  return {
    async round(steps) {
      // A random byte stream: tokens and their next-byte targets, (steps, B, T).
      const n = steps * batch * T;
      const stream = Uint32Array.from({ length: n + 1 }, () => Math.floor(rand() * dims.vocab));
      await trainer.train({ params, tokens: stream.subarray(0, n), targets: stream.subarray(1), steps, adamw });
    },
    dispose: () => trainer.destroy(),
  };
}

/**
 * Ours: fused causal attention forward + backward (both dispatches) at `shape`, on data resident
 * on the GPU; checked once against the CPU reference before it is timed. `run(n)` encodes n calls
 * in one pass and ends at queue drain.
 */
async function oursAttention(ctx: GpuContext, cache: PipelineCache, shape: AttentionShape) {
  const { device } = ctx;
  const { B, T, C, NH } = shape;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const floats = { qkv: B * T * 3 * C, out: B * T * C, lse: B * NH * T, dout: B * T * C, dd: B * NH * T, dqkv: B * T * 3 * C };
  const bufs = Object.fromEntries(Object.entries(floats).map(([k, n]) => [k, device.createBuffer({ label: `bench.att.${k}`, size: n * 4, usage })])) as Record<
    keyof typeof floats,
    GPUBuffer
  >;
  const rand = createRng(T);
  const qkv = Float32Array.from({ length: floats.qkv }, () => 2 * rand() - 1);
  const dout = Float32Array.from({ length: floats.dout }, () => 2 * rand() - 1);
  device.queue.writeBuffer(bufs.qkv, 0, qkv);
  device.queue.writeBuffer(bufs.dout, 0, dout);
  const kernels = [attentionForwardKernel(cache, shape), ...attentionBackwardKernels(cache, shape)];
  const groups = kernels.map((k) => createBindGroup(device, k, bufs));
  const run = async (n: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) kernels.forEach((k, j) => encodeDispatch(pass, k, groups[j]));
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  const dispose = () => Object.values(bufs).forEach((b) => b.destroy());
  try {
    await cache.ready();
    await run(1);
    const tol = { atol: 1e-4, rtol: 1e-3 };
    const want = attentionForwardRef(qkv, B, T, C, NH);
    const got = new Float32Array(await readBuffer(device, bufs.out));
    const c1 = closeness(got, want.out, tol);
    if (!c1.ok) throw new Error(describeCloseness(`fused attention out ${JSON.stringify(shape)} vs the CPU reference`, c1, tol));
    const c2 = closeness(new Float32Array(await readBuffer(device, bufs.dqkv)), attentionBackwardRef(dout, qkv, want.att, B, T, C, NH), tol);
    if (!c2.ok) throw new Error(describeCloseness(`fused attention dqkv ${JSON.stringify(shape)} vs the CPU reference`, c2, tol));
  } catch (e) {
    dispose();
    throw e;
  }
  return { run, dispose };
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
  const tune = await autotuneKernels(ctx, { gpt: { dims: SMALL_BENCH, batch: SMALL_BATCH } });
  const timings = [...(tune.matmul.timings ?? []).map((t) => ({ family: 'matmul', ...t })), ...(tune.timings ?? [])];
  log(`autotune (${tune.source}, ${(performance.now() - tuneStart).toFixed(0)} ms): ${JSON.stringify(tune.choice)}`);
  for (const t of timings) log(`  ${t.family} ${JSON.stringify(t.config)} ${t.ms.toFixed(1)} ms`);
  for (const r of tune.rejected ?? []) log(`  ${r.family} ${JSON.stringify(r.config)} not a candidate here: ${r.why}`);
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

  const attention: AttentionRow[] = [];
  for (const T of ATTENTION_CONTEXTS) {
    const shape = { B: 1, T, C: SMALL_BENCH.width, NH: SMALL_BENCH.heads };
    const a = await attempt(`fused attention T ${T} setup`, notes, () => oursAttention(ctx, cache, shape));
    const ms = a && (await attempt(`fused attention T ${T} timing`, notes, () => msPerRun(input, { ours: a.run })))?.ours;
    a?.dispose();
    attention.push({ shape, ms: ms ?? null, usPerToken: ms ? (ms * 1000) / (shape.B * T) : null });
    log(`fused attention ${JSON.stringify(shape)}: ${ms?.toFixed(1)} ms fwd+bwd, ${ms ? ((ms * 1000) / T).toFixed(1) : '?'} µs/token`);
  }

  const step: StepRow[] = [];
  {
    const r = await stepRates(
      'mlp step',
      notes,
      { ours: () => oursMlp(ctx), tfjs: () => tfjsMlp(MLP_SIZES, MLP_BATCH) },
      MLP_BATCH,
      input.steps,
      input.reps,
      2,
    );
    step.push({ model: 'mlp-784-64-10', ...r, batch: MLP_BATCH, seqLen: 0 });
    log(`mlp step: ours ${r.ours?.toFixed(0)} tfjs ${r.tfjs?.toFixed(0)} samples/s`);
  }
  const gpts: [string, GptShape, number, number, number, number][] = [
    ['gpt-micro 2x64-h4-t64', GPT_BENCH, GPT_BATCH, input.gptSteps, input.reps, 2],
    ['gpt-small 6x384-h6-t256', SMALL_BENCH, SMALL_BATCH, input.smallSteps, input.smallReps, 1],
  ];
  for (const [model, dims, batch, steps, reps, warmup] of gpts) {
    const r = await stepRates(`${model} step`, notes, { ours: () => oursGpt(ctx, dims, batch), tfjs: () => tfjsGpt(dims, batch) }, batch, steps, reps, warmup);
    step.push({ model, ...r, batch, seqLen: dims.context });
    log(`${model} step: ours ${r.ours?.toFixed(2)} tfjs ${r.tfjs?.toFixed(2)} sequences/s`);
  }
  ctx.device.destroy();
  return {
    type: 'bench',
    adapter: ctx.adapter,
    tfjsAdapter,
    config: matmulConfigFor(ctx.device),
    choice: tune.choice,
    tuneSource: tune.source,
    matmul,
    step,
    attention,
    notes,
  };
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
