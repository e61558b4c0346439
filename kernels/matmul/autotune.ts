// Per-adapter choice of the matmul tiling (MATMUL_CANDIDATES), measured once at join: every
// candidate runs the caller's training shapes on the device, the fastest total wins and becomes
// what matmulKernel builds there (setMatmulConfig). The result is cached per adapter, in memory
// and in the store the caller passes in (the browser worker: IndexedDB), under a key from the
// adapter's identity and limits, so a volunteer's next visit skips the measurement.
//
// Host ↔ GPU: the inputs are uploaded once per shape; each timing waits on
// onSubmittedWorkDone (no readback).
import type { AdapterSummary } from '../device.ts';
import { createBindGroup, encodeDispatch } from '../kernel.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { MATMUL_CANDIDATES, matmulKernel, setMatmulConfig, type MatmulConfig, type MatmulShape } from './matmul.ts';

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
}

export interface MatmulTuneResult {
  key: string;
  config: MatmulConfig;
  source: 'memory' | 'store' | 'measured';
  /** Per candidate, the summed median ms over the shapes (only when measured). */
  timings?: { config: MatmulConfig; ms: number }[];
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
  const key = matmulTuneKey(ctx.adapter, ctx.limits);
  const candidates = opts.candidates ?? MATMUL_CANDIDATES;
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
  const best = timings.reduce((x, y) => (y.ms < x.ms ? y : x));
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
    return candidates.find((x) => x.tiled === c.tiled && x.bk === c.bk && x.wg[0] === c.wg?.[0] && x.wg[1] === c.wg?.[1]);
  } catch {
    return undefined;
  }
}

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
    const kernels = candidates.map((config) => shapes.map((s) => matmulKernel(cache, s, config)));
    await cache.ready();
    const timings: { config: MatmulConfig; ms: number }[] = [];
    for (const [i, config] of candidates.entries()) {
      let total = 0;
      for (const [j, k] of kernels[i].entries()) {
        const group = createBindGroup(device, k, buffers[j]);
        const once = async () => {
          const enc = device.createCommandEncoder({ label: 'tune' });
          const pass = enc.beginComputePass();
          encodeDispatch(pass, k, group);
          pass.end();
          const t0 = performance.now();
          device.queue.submit([enc.finish()]);
          await device.queue.onSubmittedWorkDone();
          return performance.now() - t0;
        };
        await once(); // warm-up
        const ms: number[] = [];
        for (let r = 0; r < reps; r++) ms.push(await once());
        total += ms.sort((x, y) => x - y)[reps >> 1];
      }
      timings.push({ config, ms: total });
    }
    return timings;
  } finally {
    for (const b of buffers) for (const x of Object.values(b)) x.destroy();
  }
}
