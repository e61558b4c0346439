// Deterministic aggregation of decoded update frames. Every cohort member and the
// coordinator run this same code on the same frames in the same order (sorted by frame
// hash), so they reach bit-identical float32 results and can sign the aggregate's hash.
import { keccak256, concatHex, type Hex } from 'viem';
import type { DecodedFrame } from './codec.ts';

export interface AggregatorConfig {
  /** 'mean' weights by samples; 'clipped-mean' first clips each update's L2 norm to clip × median norm. */
  kind: 'mean' | 'clipped-mean';
  clip: number;
}

export interface WeightedUpdate {
  hash: Hex;
  frame: DecodedFrame;
}

/** Hash of an ordered set of frame hashes: what a member signs as "the frames I aggregated". */
export function framesRoot(hashes: Hex[]): Hex {
  return keccak256(concatHex([...hashes].sort()));
}

function norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return Math.sqrt(s);
}

/**
 * Sample-weighted (optionally norm-clipped) mean of sparse updates as a dense float32
 * vector, plus the total sample weight. Order of accumulation: ascending frame hash.
 */
export function aggregateUpdates(updates: WeightedUpdate[], paramCount: number, cfg: AggregatorConfig): { dense: Float32Array; samples: number } {
  const ordered = [...updates].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const dense = new Float32Array(paramCount);
  const total = ordered.reduce((s, u) => s + u.frame.header.samples, 0);
  if (ordered.length === 0 || total === 0) return { dense, samples: 0 };
  const norms = ordered.map((u) => norm(u.frame.values));
  const sortedNorms = [...norms].sort((a, b) => a - b);
  const median = sortedNorms[(sortedNorms.length - 1) >> 1];
  ordered.forEach((u, j) => {
    const clipScale = cfg.kind === 'clipped-mean' && norms[j] > cfg.clip * median && norms[j] > 0 ? (cfg.clip * median) / norms[j] : 1;
    const w = Math.fround((u.frame.header.samples / total) * clipScale);
    const { indices, values } = u.frame;
    for (let i = 0; i < indices.length; i++) dense[indices[i]] = dense[indices[i]] + w * values[i];
  });
  return { dense, samples: total };
}
