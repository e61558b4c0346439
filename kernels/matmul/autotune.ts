// Per-adapter choice of the matmul tiling (MATMUL_CANDIDATES), measured once at join: every
// candidate runs the caller's training shapes on the device, the fastest total wins and becomes
// what matmulKernel builds there (setMatmulConfig). The result is cached per adapter, in memory
// and in the store the caller passes in (the browser worker: IndexedDB), under a key from the
// adapter's identity and limits, so a volunteer's next visit skips the measurement.
//
// Host ↔ GPU: the inputs are uploaded once per shape; each timing waits on
// onSubmittedWorkDone (no readback).
import type { AdapterSummary } from '../device.ts';
import { medianGpuMs } from '../gpu-timing.ts';
import { createBindGroup, encodeDispatch } from '../kernel.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { MATMUL_CANDIDATES, matmulKernel, matmulUnsupported, setMatmulConfig, type MatmulConfig, type MatmulShape } from './matmul.ts';

/** Where tuned configurations persist between visits (any key–value store; async allowed). */
export interface MatmulTuneStore {
  get(key: string): Promise<string | undefined> | string | undefined;
  set(key: string, value: string): Promise<void> | void;
}

export interface MatmulAutotuneOptions {
  /** Persistent cache beside the in-memory one (default: none). */
  store?: MatmulTuneStore;
  /** Shapes to time (default: the MLP's and the GPT preset's training shapes, MATMUL_TUNE_SHAPES). */
  shapes?: readonly MatmulShape[];
  candidates?: readonly MatmulConfig[];
  /** Timed runs per candidate and shape, after one warm-up; the median counts (default 3). */
  reps?: number;
  /** Measure even when a cached choice exists (default false). */
  force?: boolean;
  /**
   * 'f32' (default): fp32 candidates only, so that honest work stays within float drift of a
   * validator's re-execution. 'mixed': f16 candidates too, where the adapter has shader-f16
   * (about 1e-3 relative per matmul; for runs whose verification tolerance allows it).
   */
  precision?: 'f32' | 'mixed';
}

export interface MatmulTuneResult {
  key: string;
  config: MatmulConfig;
  source: 'memory' | 'store' | 'measured';
  /**
   * Per candidate, the median ms of each shape it was timed on, in order, and their sum (only
   * when measured): all shapes, unless it fell behind the best by PRUNE_FACTOR first.
   */
  timings?: { config: MatmulConfig; ms: number; perShape: number[] }[];
}

/**
 * The MLP's largest forward (784-64-10 at batch 32) and its dW (Aᵀ layout), and the GPT's MLP-up
 * at rows B·T = 512. Few shapes: each candidate compiles one pipeline per shape, and a volunteer
 * waits for the autotune on a first visit.
 */
export const MATMUL_TUNE_SHAPES: readonly MatmulShape[] = [
  { M: 32, N: 64, K: 784 },
  { M: 784, N: 64, K: 32, transA: true },
  { M: 512, N: 256, K: 64 },
];

const memory = new Map<string, MatmulConfig>();

/** The cache key: the adapter's identity and the limits that bound a tiling. */
export function matmulTuneKey(adapter: AdapterSummary, limits: Record<string, number>): string {
  const { vendor, architecture, device, description } = adapter;
  const lim = ['maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY'].map(
    (k) => limits[k] ?? 0,
  );
  return `matmul-tune/v1/${JSON.stringify([vendor, architecture, device, description, lim])}`;
}

export async function autotuneMatmul(
  ctx: { device: GPUDevice; adapter: AdapterSummary; limits: Record<string, number> },
  opts: MatmulAutotuneOptions = {},
): Promise<MatmulTuneResult> {
  const precision = opts.precision ?? 'f32';
  const key = matmulTuneKey(ctx.adapter, ctx.limits) + (precision === 'mixed' ? '/mixed' : '');
  const candidates = (opts.candidates ?? MATMUL_CANDIDATES).filter((c) => !matmulUnsupported(c, ctx.device) && (!c.f16 || precision === 'mixed'));
  if (!opts.force) {
    const known = memory.get(key);
    if (known) return apply(ctx.device, { key, config: known, source: 'memory' });
    const stored = parseStored(await opts.store?.get(key), candidates);
    if (stored) {
      memory.set(key, stored);
      return apply(ctx.device, { key, config: stored, source: 'store' });
    }
  }
  const timings = await timeCandidates(ctx.device, candidates, opts.shapes ?? MATMUL_TUNE_SHAPES, opts.reps ?? 3);
  const done = Math.max(...timings.map((t) => t.perShape.length));
  const best = timings.filter((t) => t.perShape.length === done).reduce((x, y) => (y.ms < x.ms ? y : x));
  memory.set(key, best.config);
  await opts.store?.set(key, JSON.stringify(best.config));
  return apply(ctx.device, { key, config: best.config, source: 'measured', timings });
}

function apply(device: GPUDevice, r: MatmulTuneResult): MatmulTuneResult {
  setMatmulConfig(device, r.config);
  return r;
}

/** A stored choice counts only if it is still one of the candidates (older builds may differ). */
function parseStored(text: string | undefined, candidates: readonly MatmulConfig[]): MatmulConfig | undefined {
  if (!text) return undefined;
  try {
    const c = JSON.parse(text) as MatmulConfig;
    return candidates.find(
      (x) => x.tiled === c.tiled && x.bk === c.bk && x.wg[0] === c.wg?.[0] && x.wg[1] === c.wg?.[1] && !!x.subgroups === !!c.subgroups && !!x.f16 === !!c.f16,
    );
  } catch {
    return undefined;
  }
}

/**
 * A candidate whose running total is past this multiple of the best running total after a shape
 * is timed on no further shape: the slow tilings of an adapter (3–4× on SwiftShader) cost most of
 * a first visit's wait, and while they run, the tab's GPU process draws nothing.
 */
export const PRUNE_FACTOR = 2;

async function timeCandidates(device: GPUDevice, candidates: readonly MatmulConfig[], shapes: readonly MatmulShape[], reps: number) {
  const cache = new PipelineCache(device);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const bytes = (n: number) => Math.ceil((n * 4) / 16) * 16;
  const buffers = shapes.map((s) => ({
    a: device.createBuffer({ label: 'tune.a', size: bytes(s.M * s.K), usage }),
    b: device.createBuffer({ label: 'tune.b', size: bytes(s.K * s.N), usage }),
    c: device.createBuffer({ label: 'tune.c', size: bytes(s.M * s.N), usage }),
  }));
  try {
    const timings = candidates.map((config) => ({ config, ms: 0, perShape: [] as number[] }));
    let alive = timings;
    for (const [j, shape] of shapes.entries()) {
      // Pipelines are compiled shape by shape, only for the candidates still in the running.
      const kernels = alive.map((t) => matmulKernel(cache, shape, t.config));
      await cache.ready();
      for (const [n, t] of alive.entries()) {
        const group = createBindGroup(device, kernels[n], buffers[j]);
        t.perShape.push(await medianGpuMs(device, (pass) => encodeDispatch(pass, kernels[n], group), reps));
        t.ms += t.perShape[j];
      }
      const best = Math.min(...alive.map((t) => t.ms));
      alive = alive.filter((t) => t.ms <= PRUNE_FACTOR * best);
    }
    return timings;
  } finally {
    for (const b of buffers) for (const x of Object.values(b)) x.destroy();
  }
}
