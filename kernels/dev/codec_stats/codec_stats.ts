// Spec of the codec helpers (pseudo-gradient, per-chunk magnitude statistics) and the host-side
// threshold choice that consumes the statistics. Kept in kernels/dev/ until the worker's
// compression (shared/codec.ts on the CPU today) uses it; its test keeps it correct meanwhile.
import src from './codec_stats.wgsl?raw';
import { buildKernel, grid1d, runOnce, wgslConst, type Kernel } from '../../kernel.ts';
import type { PipelineCache } from '../../pipeline-cache.ts';

/** Histogram bins per chunk, read from the shader. */
export const CODEC_HIST_BINS = wgslConst(src, 'NBINS');
export const CODEC_STATS_WG = 64;

export interface CodecStatsShape {
  /** Floats in the vector. */
  count: number;
  /** Codec chunk size (shared/codec.ts CodecConfig.chunkSize). */
  chunkSize: number;
}

const PSEUDO_GRAD = [
  { binding: 0, name: 'start', kind: 'read-only-storage' },
  { binding: 1, name: 'current', kind: 'read-only-storage' },
  { binding: 2, name: 'residual', kind: 'read-only-storage' },
  { binding: 3, name: 'v', kind: 'storage' },
] as const;
const CHUNK_STATS = [
  { binding: 3, name: 'v', kind: 'storage' },
  { binding: 4, name: 'maxabs', kind: 'storage' },
  { binding: 5, name: 'hist', kind: 'storage' },
] as const;

export type PseudoGradKernel = Kernel<(typeof PSEUDO_GRAD)[number]['name']>;
export type ChunkStatsKernel = Kernel<(typeof CHUNK_STATS)[number]['name']>;

function constants({ count, chunkSize }: CodecStatsShape): Record<string, number> {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`codec_stats: count and chunkSize must be positive integers, got ${count}, ${chunkSize}`);
  }
  return { COUNT: count, CHUNK: chunkSize, WG: CODEC_STATS_WG };
}

export const chunkCount = ({ count, chunkSize }: CodecStatsShape) => Math.ceil(count / chunkSize);

/** v (count) ← residual + (start − current). */
export function pseudoGradKernel(cache: PipelineCache, shape: CodecStatsShape): PseudoGradKernel {
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    { label: 'pseudo_grad', code: src, entryPoint: 'pseudo_grad', constants: constants(shape), bindings: PSEUDO_GRAD },
    grid1d(shape.count, CODEC_STATS_WG, max),
  );
}

/** maxabs (chunks), hist (chunks, CODEC_HIST_BINS) of v: one workgroup per chunk. */
export function chunkStatsKernel(cache: PipelineCache, shape: CodecStatsShape): ChunkStatsKernel {
  const chunks = chunkCount(shape);
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  if (chunks > max) throw new RangeError(`codec_stats: ${chunks} chunks exceed ${max} workgroups; use a larger chunkSize`);
  return buildKernel(cache, { label: 'chunk_stats', code: src, entryPoint: 'chunk_stats', constants: constants(shape), bindings: CHUNK_STATS }, [chunks, 1, 1]);
}

/**
 * Per chunk, the largest bin lower edge e = maxabs · j / BINS such that at least k values have
 * bin ≥ j: every value of the chunk's top-k has |v| ≥ e, so reading back only |v| ≥ e (and
 * sorting those) yields the same top-k as sorting the whole chunk.
 */
export function chunkThresholds(maxabs: Float32Array, hist: Uint32Array, k: (chunk: number) => number): Float32Array {
  const bins = CODEC_HIST_BINS;
  return Float32Array.from(maxabs, (m, c) => {
    let kept = 0;
    for (let j = bins - 1; j >= 0; j--) {
      kept += hist[c * bins + j];
      if (kept >= k(c)) return (m * j) / bins;
    }
    return 0;
  });
}

/** Eager pseudo-gradient + statistics (tests, tools). */
export async function codecStats(
  cache: PipelineCache,
  args: { start: Float32Array; current: Float32Array; residual?: Float32Array },
  chunkSize: number,
): Promise<{ v: Float32Array; maxabs: Float32Array; hist: Uint32Array }> {
  const count = args.start.length;
  if (args.current.length !== count || (args.residual && args.residual.length !== count))
    throw new RangeError('codecStats: start, current, residual differ in length');
  const shape = { count, chunkSize };
  const a = await runOnce(
    cache,
    pseudoGradKernel(cache, shape),
    { start: args.start, current: args.current, residual: args.residual ?? count * 4, v: count * 4 },
    ['v'],
  );
  const v = new Float32Array(a.v);
  const chunks = chunkCount(shape);
  const b = await runOnce(cache, chunkStatsKernel(cache, shape), { v, maxabs: chunks * 4, hist: chunks * CODEC_HIST_BINS * 4 }, ['maxabs', 'hist']);
  return { v, maxabs: new Float32Array(b.maxabs), hist: new Uint32Array(b.hist) };
}
