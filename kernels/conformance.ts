// Kernel conformance checks that run anywhere a WebGPU device exists: Node/Dawn tests, the
// browser worker test, and a validator checking its own adapter before re-executing work.
// Each check compares a GPU result with its CPU reference and returns a result, never throws
// on a mismatch (the caller decides how to report).
import { trainLocalCpu, type AdamWConfig, type Dataset } from '../shared/mlp.ts';
import { initParams, mlpSpec } from '../shared/model.ts';
import { createRng } from '../shared/rng.ts';
import { adamw } from './adamw/adamw.ts';
import { adamwRef } from './adamw/adamw.ref.ts';
import { biasBackward, biasForward } from './bias_relu/bias_relu.ts';
import { biasBackwardRef, biasForwardRef } from './bias_relu/bias_relu.ref.ts';
import { closeness, describeCloseness, type Tolerance } from './compare.ts';
import { gatherBatchGpu } from './gather_batch/gather_batch.ts';
import { gatherBatchRef } from './gather_batch/gather_batch.ref.ts';
import { matmul, type MatmulConfig, type MatmulShape } from './matmul/matmul.ts';
import { matmulRef } from './matmul/matmul.ref.ts';
import { createMlpTrainer } from './mlp-trainer.ts';
import type { PipelineCache } from './pipeline-cache.ts';
import { softmaxXent } from './softmax_xent/softmax_xent.ts';
import { softmaxXentRef } from './softmax_xent/softmax_xent.ref.ts';
import { geluBackward, geluForward } from './bias_relu/bias_relu.ts';
import { geluBackwardRef, geluForwardRef } from './bias_relu/bias_relu.ref.ts';
import { residualAdd } from './residual/residual.ts';
import { residualRef } from './residual/residual.ref.ts';
import { layernormBackward, layernormForward } from './layernorm/layernorm.ts';
import { layernormBackwardRef, layernormForwardRef } from './layernorm/layernorm.ref.ts';
import { attentionBackward, attentionForward, type AttentionConfig, type AttentionShape } from './attention/attention.ts';
import type { RowReduceConfig } from './row-reduce/row-reduce.ts';
import { attentionBackwardRef, attentionForwardRef, attentionLseRef } from './attention/attention.ref.ts';
import { embeddingBackward, embeddingForward, type EmbeddingShape } from './embedding/embedding.ts';
import { embeddingBackwardRef, embeddingForwardRef } from './embedding/embedding.ref.ts';
import { createGptTrainer } from './gpt-trainer.ts';
import { trainGptLocalCpu } from '../shared/gpt.ts';
import { gptSpec, type GptDims } from '../shared/model.ts';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** One line per compared tensor. */
  detail: string[];
}

class Checker {
  readonly detail: string[] = [];
  ok = true;
  compare(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): void {
    const c = closeness(got, want, tol);
    this.ok &&= c.ok;
    this.detail.push(describeCloseness(what, c, tol));
  }
  result(name: string): CheckResult {
    return { name, ok: this.ok, detail: this.detail };
  }
}

export function randomArray(n: number, rand: () => number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** Random bytes as images, uniform labels: a stand-in for MNIST with any shape. */
export function randomDataset(count: number, features: number, classes: number, rand: () => number): Dataset {
  const images = Uint8Array.from({ length: count * features }, () => Math.floor(rand() * 256));
  const labels = Uint8Array.from({ length: count }, () => Math.floor(rand() * classes));
  return { images, labels, count, features, classes };
}

export async function checkMatmul(cache: PipelineCache, shape: MatmulShape, seed = 1, config?: MatmulConfig): Promise<CheckResult> {
  const rand = createRng(seed);
  const a = randomArray(shape.M * shape.K, rand);
  const b = randomArray(shape.K * shape.N, rand);
  const c = new Checker();
  c.compare('C', await matmul(cache, a, b, shape, config), matmulRef(a, b, shape), { atol: 1e-5, rtol: 1e-5 });
  return c.result(`matmul ${JSON.stringify(shape)}${config ? ` ${JSON.stringify(config)}` : ''}`);
}

export async function checkBiasRelu(cache: PipelineCache, rows: number, n: number, relu: boolean, seed = 2): Promise<CheckResult> {
  const rand = createRng(seed);
  const shape = { rows, n, relu };
  const x = randomArray(rows * n, rand);
  const bias = randomArray(n, rand);
  const dy = randomArray(rows * n, rand);
  const c = new Checker();
  const y = await biasForward(cache, x, bias, shape);
  c.compare('y', y, biasForwardRef(x, bias, shape), { atol: 1e-6, rtol: 1e-6 });
  const got = await biasBackward(cache, dy, relu ? y : null, shape);
  const want = biasBackwardRef(dy, y, shape);
  c.compare('dx', got.dx, want.dx, { atol: 1e-6, rtol: 1e-6 });
  c.compare('dbias', got.dbias, want.dbias, { atol: 1e-5, rtol: 1e-5 });
  return c.result(`bias_relu ${JSON.stringify(shape)}`);
}

export async function checkSoftmaxXent(cache: PipelineCache, rows: number, classes: number, seed = 3, reduce?: RowReduceConfig): Promise<CheckResult> {
  const rand = createRng(seed);
  const logits = randomArray(rows * classes, rand, -4, 4);
  const labels = Uint32Array.from({ length: rows }, () => Math.floor(rand() * classes));
  const got = await softmaxXent(cache, logits, labels, { rows, classes }, reduce);
  const want = softmaxXentRef(logits, labels, classes);
  const c = new Checker();
  c.compare('loss', [got.loss], [want.loss], { atol: 1e-6, rtol: 1e-6 });
  c.compare('dlogits', got.dlogits, want.dlogits, { atol: 1e-7, rtol: 1e-5 });
  return c.result(`softmax_xent ${JSON.stringify({ rows, classes })}${reduce ? ` ${JSON.stringify(reduce)}` : ''}`);
}

export async function checkAdamw(cache: PipelineCache, n: number, seed = 4): Promise<CheckResult> {
  const rand = createRng(seed);
  const cfg: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
  const init = { params: randomArray(n, rand), m: randomArray(n, rand, 0, 1e-2), v: randomArray(n, rand, 0, 1e-4) };
  const grad = randomArray(n, rand, -0.1, 0.1);
  const got = await adamw(cache, { ...init, grad }, 3, cfg);
  const want = adamwRef({ ...init, grad }, 3, cfg);
  const c = new Checker();
  c.compare('params', got.params, want.params, { atol: cfg.lr * 1e-4, rtol: 1e-6 });
  c.compare('m', got.m, want.m, { atol: 1e-9, rtol: 1e-5 });
  c.compare('v', got.v, want.v, { atol: 1e-12, rtol: 1e-5 });
  return c.result(`adamw n=${n}`);
}

export async function checkGather(cache: PipelineCache, count: number, features: number, rows: number, seed = 5): Promise<CheckResult> {
  const rand = createRng(seed);
  const data = randomDataset(count, features, 10, rand);
  const idx = Uint32Array.from({ length: rows }, () => Math.floor(rand() * count));
  const got = await gatherBatchGpu(cache, data, idx);
  const want = gatherBatchRef(data, idx);
  const c = new Checker();
  c.compare('x', got.x, want.x, { atol: 0, rtol: 1e-7 });
  c.compare('y', got.y, want.y, { atol: 0, rtol: 0 });
  return c.result(`gather_batch ${JSON.stringify({ count, features, rows })}`);
}

export async function checkGelu(cache: PipelineCache, rows: number, n: number, seed = 7): Promise<CheckResult> {
  const rand = createRng(seed);
  const shape = { rows, n };
  const [x, bias, dy] = [randomArray(rows * n, rand, -4, 4), randomArray(n, rand), randomArray(rows * n, rand)];
  const c = new Checker();
  const { pre, act } = await geluForward(cache, x, bias, shape);
  c.compare('act', act, geluForwardRef(x, bias, shape), { atol: 2e-6, rtol: 1e-5 });
  const got = await geluBackward(cache, dy, pre, shape);
  const want = geluBackwardRef(dy, pre, shape);
  c.compare('dx', got.dx, want.dx, { atol: 2e-6, rtol: 1e-5 });
  c.compare('dbias', got.dbias, want.dbias, { atol: 1e-5, rtol: 1e-5 });
  return c.result(`bias_gelu ${JSON.stringify(shape)}`);
}

export async function checkResidual(cache: PipelineCache, n: number, seed = 8): Promise<CheckResult> {
  const rand = createRng(seed);
  const [x, y] = [randomArray(n, rand), randomArray(n, rand)];
  const c = new Checker();
  c.compare('x + y', await residualAdd(cache, x, y), residualRef(x, y), { atol: 1e-7, rtol: 1e-7 });
  return c.result(`residual n=${n}`);
}

export async function checkLayernorm(cache: PipelineCache, rows: number, C: number, seed = 9, reduce?: RowReduceConfig): Promise<CheckResult> {
  const rand = createRng(seed);
  const [x, gamma, beta, dy] = [randomArray(rows * C, rand, -2, 3), randomArray(C, rand, 0.5, 1.5), randomArray(C, rand), randomArray(rows * C, rand)];
  const tol = { atol: 2e-5, rtol: 1e-4 };
  const c = new Checker();
  const { y, stats } = await layernormForward(cache, x, gamma, beta, { rows, C }, reduce);
  const ref = layernormForwardRef(x, gamma, beta, rows, C);
  c.compare('y', y, ref.y, tol);
  const got = await layernormBackward(cache, { dy, x, gamma, stats }, { rows, C }, reduce);
  const want = layernormBackwardRef(dy, x, gamma, ref.mean, ref.rstd, rows, C);
  c.compare('dx', got.dx, want.dx, tol);
  c.compare('dgamma', got.dgamma, want.dgamma, tol);
  c.compare('dbeta', got.dbeta, want.dbeta, tol);
  return c.result(`layernorm ${JSON.stringify({ rows, C })}${reduce ? ` ${JSON.stringify(reduce)}` : ''}`);
}

export async function checkAttention(cache: PipelineCache, shape: AttentionShape, seed = 10, config?: AttentionConfig): Promise<CheckResult> {
  const rand = createRng(seed);
  const { B, T, C, NH } = shape;
  const [qkv, dout] = [randomArray(B * T * 3 * C, rand, -2, 2), randomArray(B * T * C, rand)];
  const tol = { atol: 1e-5, rtol: 1e-4 };
  const c = new Checker();
  const got = await attentionForward(cache, qkv, shape, config);
  const want = attentionForwardRef(qkv, B, T, C, NH);
  c.compare('out', got.out, want.out, tol);
  c.compare('lse', got.lse, attentionLseRef(qkv, B, T, C, NH), tol);
  const dqkv = await attentionBackward(cache, { dout, qkv, out: got.out, lse: got.lse }, shape, config);
  c.compare('dqkv', dqkv, attentionBackwardRef(dout, qkv, want.att, B, T, C, NH), tol);
  return c.result(`attention ${JSON.stringify(shape)}${config ? ` ${JSON.stringify(config)}` : ''}`);
}

export async function checkEmbedding(cache: PipelineCache, shape: EmbeddingShape, seed = 11): Promise<CheckResult> {
  const rand = createRng(seed);
  const { B, T, C, V } = shape;
  const tokens = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * V));
  const [wte, wpe, dx] = [randomArray(V * C, rand), randomArray(T * C, rand), randomArray(B * T * C, rand)];
  const tol = { atol: 1e-6, rtol: 1e-5 };
  const c = new Checker();
  c.compare('x', await embeddingForward(cache, tokens, wte, wpe, shape), embeddingForwardRef(tokens, wte, wpe, shape), tol);
  const got = await embeddingBackward(cache, tokens, dx, shape);
  const want = embeddingBackwardRef(tokens, dx, shape);
  c.compare('dwte', got.dwte, want.dwte, tol);
  c.compare('dwpe', got.dwpe, want.dwpe, tol);
  return c.result(`embedding ${JSON.stringify(shape)}`);
}

export async function checkAdamwClipped(cache: PipelineCache, n: number, maxGradNorm: number, seed = 12): Promise<CheckResult> {
  const rand = createRng(seed);
  const cfg: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm };
  const state = { params: randomArray(n, rand), m: randomArray(n, rand, 0, 1e-2), v: randomArray(n, rand, 0, 1e-4), grad: randomArray(n, rand, -0.1, 0.1) };
  const got = await adamw(cache, state, 2, cfg);
  const want = adamwRef(state, 2, cfg);
  const c = new Checker();
  c.compare('sumsq', [got.sumsq ?? NaN], [state.grad.reduce((s, g) => s + g * g, 0)], { atol: 0, rtol: 1e-5 });
  c.compare('params', got.params, want.params, { atol: cfg.lr * 1e-4, rtol: 1e-6 });
  c.compare('m', got.m, want.m, { atol: 1e-9, rtol: 1e-5 });
  return c.result(`adamw clipped n=${n} maxGradNorm=${maxGradNorm}`);
}

/** Steps of the GPU GPT trainer vs shared/gpt.ts trainGptLocalCpu on random tokens. */
export async function checkGptTrainerMatchesCpu(
  device: GPUDevice,
  cache: PipelineCache,
  dims: GptDims,
  B: number,
  T: number,
  steps: number,
  seed = 14,
): Promise<CheckResult> {
  const spec = gptSpec(dims);
  const rand = createRng(seed);
  const ids = () => Uint32Array.from({ length: steps * B * T }, () => Math.floor(rand() * dims.vocab));
  const [tokens, targets] = [ids(), ids()];
  const params = initParams(spec, seed).map((p) => p + (rand() - 0.5) * 0.2);
  const cfg: AdamWConfig = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 0.3 };
  const trainer = createGptTrainer(device, spec, { batchSize: B, seqLen: T, cache });
  try {
    const got = await trainer.train({ params, tokens, targets, steps, adamw: cfg });
    const per = (a: Uint32Array, s: number) => a.subarray(s * B * T, (s + 1) * B * T);
    const want = trainGptLocalCpu(
      spec,
      params,
      Array.from({ length: steps }, (_, s) => ({ tokens: per(tokens, s), targets: per(targets, s) })),
      B,
      T,
      cfg,
    );
    const c = new Checker();
    c.compare('losses', got.losses, want.losses, { atol: 1e-5, rtol: 1e-5 });
    c.compare('params', got.params, want.params, { atol: 2e-5, rtol: 1e-4 });
    return c.result(`gpt trainer ${JSON.stringify(dims)} B=${B} T=${T} × ${steps} steps vs trainGptLocalCpu`);
  } finally {
    trainer.destroy();
  }
}

export interface TrainerCheckOptions {
  sizes: number[];
  batchSize: number;
  steps: number;
  /** Samples in the random dataset. */
  count: number;
  adamw: AdamWConfig;
  /** Tolerance on the final params; losses are held to `lossTol`. */
  paramTol: Tolerance;
  lossTol: Tolerance;
  seed?: number;
}

/** One round on the GPU trainer vs shared/mlp.ts trainLocalCpu with the same batches. */
export async function checkTrainerMatchesCpu(device: GPUDevice, cache: PipelineCache, o: TrainerCheckOptions): Promise<CheckResult> {
  const rand = createRng(o.seed ?? 6);
  const spec = mlpSpec(o.sizes);
  const data = randomDataset(o.count, o.sizes[0], o.sizes[o.sizes.length - 1], rand);
  const params = initParams(spec, o.seed ?? 6);
  const batches = Uint32Array.from({ length: o.steps * o.batchSize }, () => Math.floor(rand() * o.count));
  const perStep = Array.from({ length: o.steps }, (_, s) => batches.subarray(s * o.batchSize, (s + 1) * o.batchSize));

  const trainer = createMlpTrainer(device, spec, { batchSize: o.batchSize, cache });
  try {
    trainer.setData(data);
    const got = await trainer.train({ params, batches, steps: o.steps, adamw: o.adamw });
    const want = trainLocalCpu(spec, params, data, perStep, o.adamw);
    const c = new Checker();
    c.compare('params', got.params, want.params, o.paramTol);
    c.compare('lossBefore', [got.lossBefore], [want.lossBefore], o.lossTol);
    c.compare('lossAfter', [got.lossAfter], [want.lossAfter], o.lossTol);
    c.detail.push(`${got.samples} samples in ${got.gpuMs.toFixed(1)} ms`);
    return c.result(`trainer [${o.sizes.join(', ')}] batch ${o.batchSize} × ${o.steps} steps vs trainLocalCpu`);
  } finally {
    trainer.destroy();
  }
}

/** Every op at shapes that are not tile or workgroup multiples; small enough for SwiftShader. */
export async function runKernelConformance(cache: PipelineCache): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [M, N, K] of [
    [7, 13, 5],
    [33, 17, 19],
  ]) {
    for (const transA of [false, true]) for (const transB of [false, true]) results.push(await checkMatmul(cache, { M, N, K, transA, transB }));
  }
  results.push(await checkBiasRelu(cache, 7, 70, true), await checkBiasRelu(cache, 5, 13, false));
  results.push(await checkSoftmaxXent(cache, 9, 10), await checkSoftmaxXent(cache, 131, 7));
  results.push(await checkAdamw(cache, 1000));
  results.push(await checkGather(cache, 37, 7, 5));
  results.push(await checkGelu(cache, 7, 70), await checkResidual(cache, 333));
  results.push(await checkLayernorm(cache, 67, 37), await checkLayernorm(cache, 3, 5));
  results.push(await checkAttention(cache, { B: 2, T: 9, C: 12, NH: 3 }), await checkAttention(cache, { B: 1, T: 67, C: 10, NH: 2 }));
  results.push(await checkEmbedding(cache, { B: 3, T: 7, C: 67, V: 11 }));
  results.push(await checkAdamwClipped(cache, 3007, 0.5), await checkAdamwClipped(cache, 1001, 1000));
  return results;
}
