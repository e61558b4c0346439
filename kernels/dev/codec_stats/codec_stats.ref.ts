// CPU reference for the codec helpers: pseudo-gradient and per-chunk magnitude statistics.
import { CODEC_HIST_BINS } from './codec_stats.ts';

/** residual + (start − current), rounded to f32 as the GPU computes it. */
export function pseudoGradRef(start: ArrayLike<number>, current: ArrayLike<number>, residual?: ArrayLike<number>): Float32Array {
  return Float32Array.from({ length: start.length }, (_, i) => Math.fround((residual?.[i] ?? 0) + Math.fround(start[i] - current[i])));
}

/** maxabs (chunks) and hist (chunks, CODEC_HIST_BINS) of v, as codec_stats.wgsl chunk_stats. */
export function chunkStatsRef(v: Float32Array, chunkSize: number): { maxabs: Float32Array; hist: Uint32Array } {
  const chunks = Math.ceil(v.length / chunkSize);
  const maxabs = new Float32Array(chunks);
  const hist = new Uint32Array(chunks * CODEC_HIST_BINS);
  for (let c = 0; c < chunks; c++) {
    const [lo, hi] = [c * chunkSize, Math.min((c + 1) * chunkSize, v.length)];
    let m = 0;
    for (let i = lo; i < hi; i++) m = Math.max(m, Math.abs(v[i]));
    maxabs[c] = m;
    for (let i = lo; i < hi; i++) {
      const j = m > 0 ? Math.min(CODEC_HIST_BINS - 1, Math.floor(Math.fround(Math.abs(v[i]) / m) * CODEC_HIST_BINS)) : 0;
      hist[c * CODEC_HIST_BINS + j]++;
    }
  }
  return { maxabs, hist };
}
