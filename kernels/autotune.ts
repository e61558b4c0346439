// Per-adapter choice of every kernel family's variant, measured once when a device is acquired:
// the matmul tiling (matmul/autotune.ts, its subgroup candidates included), the row reduction of layernorm and cross-entropy
// (row-reduce/), and how fused attention is fed (attention/). A candidate first has to match the
// CPU reference on this device — a variant that computes wrong here (say, a subgroup layout the
// shader assumes and this GPU does not have) is dropped with its reason, never timed — then the
// survivors are timed at the GPT training shapes and the fastest becomes what the op specs build
// on this device. Cached per adapter like the matmul's: in memory and in the caller's store.
import { GPT_DEFAULT, type GptDims } from '../shared/model.ts';
import {
  ATTENTION_CANDIDATES,
  attentionBackwardKernels,
  attentionChoice,
  attentionForwardKernel,
  attentionUnsupported,
  type AttentionConfig,
} from './attention/attention.ts';
import { checkAttention, checkLayernorm, checkSoftmaxXent, type CheckResult } from './conformance.ts';
import type { AdapterSummary } from './device.ts';
import { medianGpuMs } from './gpu-timing.ts';
import { createBindGroup, encodeDispatch, type Kernel } from './kernel.ts';
import { layernormDxKernel, layernormForwardKernel, layernormParamsKernel } from './layernorm/layernorm.ts';
import { autotuneMatmul, matmulTuneKey, type MatmulTuneStore } from './matmul/autotune.ts';
import { MATMUL_CANDIDATES, MATMUL_SUBGROUP_CANDIDATES, type MatmulConfig, type MatmulShape } from './matmul/matmul.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { ROW_REDUCE_CANDIDATES, rowReduceChoice, rowReduceUnsupported, subgroupMinSize, type RowReduceConfig } from './row-reduce/row-reduce.ts';
import { softmaxXentKernels } from './softmax_xent/softmax_xent.ts';

export interface KernelChoice {
  matmul: MatmulConfig;
  rowReduce: RowReduceConfig;
  attention: AttentionConfig;
}

export interface KernelAutotuneOptions {
  /** Persistent cache beside the in-memory one (the browser worker: IndexedDB). */
  store?: MatmulTuneStore;
  /** The GPT shapes to time row reductions and attention at (default GPT_DEFAULT, batch 8). */
  gpt?: { dims: GptDims; batch: number };
  /** Timed runs per candidate after one warm-up; the median counts (default 3). */
  reps?: number;
  /** Measure even when a cached choice exists (default false). */
  force?: boolean;
  /** The matmul's (MatmulAutotuneOptions.precision): 'f32' (default) or 'mixed' (f16 candidates too, where the adapter has shader-f16). */
  precision?: 'f32' | 'mixed';
  /** The matmul's tuning shapes (default MATMUL_TUNE_SHAPES). */
  matmulShapes?: readonly MatmulShape[];
  /** What to choose among (default ROW_REDUCE_CANDIDATES, ATTENTION_CANDIDATES). */
  candidates?: { rowReduce?: readonly RowReduceConfig[]; attention?: readonly AttentionConfig[] };
}

export interface KernelTuneResult {
  key: string;
  choice: KernelChoice;
  /** Where the row-reduction and attention choice came from (the matmul's is in `matmul`). */
  source: 'memory' | 'store' | 'measured';
  matmul: { source: 'memory' | 'store' | 'measured'; timings?: { config: MatmulConfig; ms: number }[] };
  /** Median ms of each timed candidate (only when measured). */
  timings?: { family: 'rowReduce' | 'attention'; config: RowReduceConfig | AttentionConfig; ms: number }[];
  /** Candidates this device cannot run, or that failed their check against the CPU reference. */
  rejected?: { family: 'rowReduce' | 'attention'; config: RowReduceConfig | AttentionConfig; why: string }[];
}

type Ctx = { device: GPUDevice; adapter: AdapterSummary; limits: Record<string, number> };
type Stored = Pick<KernelChoice, 'rowReduce' | 'attention'>;

const memory = new Map<string, Stored>();

/** The cache key: the matmul's (adapter identity and limits) and the features and subgroup size variants depend on. */
export function kernelTuneKey(ctx: Ctx): string {
  const features = ['subgroups', 'shader-f16'].filter((f) => ctx.device.features.has(f));
  return `kernel-tune/v1/${JSON.stringify([matmulTuneKey(ctx.adapter, ctx.limits), features, subgroupMinSize(ctx.device)])}`;
}

export async function autotuneKernels(ctx: Ctx, opts: KernelAutotuneOptions = {}): Promise<KernelTuneResult> {
  const { device } = ctx;
  const matmul = await autotuneMatmul(ctx, {
    store: opts.store,
    force: opts.force,
    reps: opts.reps,
    precision: opts.precision,
    shapes: opts.matmulShapes,
    candidates: [...MATMUL_CANDIDATES, ...MATMUL_SUBGROUP_CANDIDATES],
  });
  const key = kernelTuneKey(ctx);
  const result = (source: KernelTuneResult['source'], chosen: Stored, extra: Partial<KernelTuneResult> = {}): KernelTuneResult => {
    rowReduceChoice.set(device, chosen.rowReduce);
    attentionChoice.set(device, chosen.attention);
    return { key, choice: { matmul: matmul.config, ...chosen }, source, matmul: { source: matmul.source, timings: matmul.timings }, ...extra };
  };
  if (!opts.force) {
    const known = memory.get(key);
    if (known) return result('memory', known);
    const stored = parseStored(await opts.store?.get(key), device);
    if (stored) {
      memory.set(key, stored);
      return result('store', stored);
    }
  }
  const { dims, batch } = opts.gpt ?? { dims: GPT_DEFAULT, batch: 8 };
  const reps = opts.reps ?? 3;
  const timings: NonNullable<KernelTuneResult['timings']> = [];
  const rejected: NonNullable<KernelTuneResult['rejected']> = [];

  const rowReduce = await fastest(device, 'rowReduce', opts.candidates?.rowReduce ?? ROW_REDUCE_CANDIDATES, timings, rejected, {
    unsupported: (c) => rowReduceUnsupported(c, device),
    check: async (cache, c) => [await checkLayernorm(cache, 67, 37, 9, c), await checkSoftmaxXent(cache, 67, 13, 3, c)],
    time: (cache, c) => timeRowReduce(cache, c, batch * dims.context, dims.width, dims.vocab, reps),
  });
  const attention = await fastest(device, 'attention', opts.candidates?.attention ?? ATTENTION_CANDIDATES, timings, rejected, {
    unsupported: (c) => attentionUnsupported(c, device),
    check: async (cache, c) => [await checkAttention(cache, { B: 2, T: 19, C: 16, NH: 2 }, 11, c)],
    time: (cache, c) => timeAttention(cache, c, { B: batch, T: dims.context, C: dims.width, NH: dims.heads }, reps),
  });
  const chosen = { rowReduce, attention };
  memory.set(key, chosen);
  await opts.store?.set(key, JSON.stringify(chosen));
  return result('measured', chosen, { timings, rejected });
}

async function fastest<Config extends RowReduceConfig | AttentionConfig>(
  device: GPUDevice,
  family: 'rowReduce' | 'attention',
  candidates: readonly Config[],
  timings: NonNullable<KernelTuneResult['timings']>,
  rejected: NonNullable<KernelTuneResult['rejected']>,
  how: {
    unsupported: (c: Config) => string | null;
    check: (cache: PipelineCache, c: Config) => Promise<CheckResult[]>;
    time: (cache: PipelineCache, c: Config) => Promise<number>;
  },
): Promise<Config> {
  let best: { config: Config; ms: number } | null = null;
  for (const config of candidates) {
    const why = how.unsupported(config);
    if (why) {
      rejected.push({ family, config, why });
      continue;
    }
    // A cache per candidate: a pipeline that fails to compile rejects only its own candidate.
    const cache = new PipelineCache(device);
    try {
      const bad = (await how.check(cache, config)).filter((r) => !r.ok);
      if (bad.length) {
        rejected.push({ family, config, why: bad.map((r) => `${r.name}: ${r.detail.join('; ')}`).join(' | ') });
        continue;
      }
      const ms = await how.time(cache, config);
      timings.push({ family, config, ms });
      if (!best || ms < best.ms) best = { config, ms };
    } catch (e) {
      rejected.push({ family, config, why: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  if (!best) throw new Error(`autotune: no ${family} candidate works on this device: ${JSON.stringify(rejected.filter((r) => r.family === family))}`);
  return best.config;
}

/** Zeroed storage buffers for every binding of `kernels` (sizes in floats by binding name), bound. */
function bindScratch(device: GPUDevice, kernels: Kernel[], floats: Record<string, number>) {
  const buffers = new Map<string, GPUBuffer>();
  const buf = (name: string) => {
    let b = buffers.get(name);
    if (!b) {
      if (!(name in floats)) throw new Error(`autotune: no size for binding ${name}`);
      b = device.createBuffer({ label: `tune.${name}`, size: Math.max(256, floats[name] * 4), usage: GPUBufferUsage.STORAGE });
      buffers.set(name, b);
    }
    return b;
  };
  const groups = kernels.map((k) =>
    createBindGroup(device, k, Object.fromEntries(k.bindings.map((b) => [b.name, b.dynamicOffset ? { buffer: buf(b.name), size: 4 } : buf(b.name)]))),
  );
  const encode = (pass: GPUComputePassEncoder) =>
    kernels.forEach((k, i) => encodeDispatch(pass, k, groups[i], k.bindings.some((b) => b.dynamicOffset) ? [0] : undefined));
  return { encode, destroy: () => buffers.forEach((b) => b.destroy()) };
}

/** A layer's layernorm work (forward, accumulating dx, dγ/dβ) and the head's cross-entropy at (rows, C), (rows, V). */
async function timeRowReduce(cache: PipelineCache, c: RowReduceConfig, rows: number, C: number, V: number, reps: number): Promise<number> {
  const x = softmaxXentKernels(cache, { rows, classes: V }, c);
  const kernels: Kernel[] = [
    layernormForwardKernel(cache, { rows, C }, c),
    layernormDxKernel(cache, { rows, C, accumulate: true }, c),
    layernormParamsKernel(cache, { rows, C }, c),
    x.rows,
    x.total,
  ];
  await cache.ready();
  const s = bindScratch(cache.device, kernels, {
    x: rows * C,
    gamma: C,
    beta: C,
    y: rows * C,
    stats: 2 * rows,
    dy: rows * C,
    dx: rows * C,
    dgamma: C,
    dbeta: C,
    logits: rows * V,
    labels: rows,
    dlogits: rows * V,
    rowLoss: rows,
    loss: 1,
  });
  try {
    return await medianGpuMs(cache.device, s.encode, reps);
  } finally {
    s.destroy();
  }
}

/** Fused attention forward and backward at the GPT's (B, T, C, NH). */
async function timeAttention(cache: PipelineCache, c: AttentionConfig, shape: { B: number; T: number; C: number; NH: number }, reps: number): Promise<number> {
  const kernels: Kernel[] = [attentionForwardKernel(cache, shape, c), ...attentionBackwardKernels(cache, shape, c)];
  await cache.ready();
  const { B, T, C, NH } = shape;
  const s = bindScratch(cache.device, kernels, { qkv: B * T * 3 * C, out: B * T * C, lse: B * NH * T, dout: B * T * C, dd: B * NH * T, dqkv: B * T * 3 * C });
  try {
    return await medianGpuMs(cache.device, s.encode, reps);
  } finally {
    s.destroy();
  }
}

/** A stored choice counts only if both entries are still candidates this device can run. */
function parseStored(text: string | undefined, device: GPUDevice): Stored | undefined {
  if (!text) return undefined;
  try {
    const s = JSON.parse(text) as Stored;
    const same = (a: object, b: object) => JSON.stringify(a) === JSON.stringify(b);
    const rowReduce = ROW_REDUCE_CANDIDATES.find((c) => same(c, s.rowReduce) && !rowReduceUnsupported(c, device));
    const attention = ATTENTION_CANDIDATES.find((c) => same(c, s.attention) && !attentionUnsupported(c, device));
    return rowReduce && attention ? { rowReduce, attention } : undefined;
  } catch {
    return undefined;
  }
}
