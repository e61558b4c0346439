// Spec of the token + position embedding kernels: bindings, overrides, dispatch grids.
import src from './embedding.wgsl?raw';
import { buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

/** B sequences of T tokens < V, embedded to width C. */
export interface EmbeddingShape {
  B: number;
  T: number;
  C: number;
  V: number;
}

export const EMBEDDING_WG = 64;

const FORWARD = [
  { binding: 0, name: 'tokens', kind: 'read-only-storage' },
  { binding: 1, name: 'wte', kind: 'read-only-storage' },
  { binding: 2, name: 'wpe', kind: 'read-only-storage' },
  { binding: 3, name: 'x', kind: 'storage' },
] as const;
const BACKWARD_WTE = [
  { binding: 4, name: 'dx', kind: 'read-only-storage' },
  { binding: 5, name: 'dwte', kind: 'storage' },
  { binding: 7, name: 'order', kind: 'read-only-storage' },
  { binding: 8, name: 'starts', kind: 'read-only-storage' },
] as const;
const BACKWARD_WPE = [
  { binding: 4, name: 'dx', kind: 'read-only-storage' },
  { binding: 6, name: 'dwpe', kind: 'storage' },
] as const;

export type EmbeddingForwardKernel = Kernel<(typeof FORWARD)[number]['name']>;
export type EmbeddingWteKernel = Kernel<(typeof BACKWARD_WTE)[number]['name']>;
export type EmbeddingWpeKernel = Kernel<(typeof BACKWARD_WPE)[number]['name']>;

function build<K extends Kernel>(cache: PipelineCache, shape: EmbeddingShape, entryPoint: string, bindings: K['bindings'], count: number): K {
  for (const [k, v] of Object.entries(shape)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`embedding: ${k} must be a positive integer, got ${v}`);
  }
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  const { B, T, C, V } = shape;
  return buildKernel(
    cache,
    { label: `embedding_${entryPoint}`, code: src, entryPoint, constants: { B, T, C, V, WG: EMBEDDING_WG }, bindings },
    grid1d(count, EMBEDDING_WG, max),
  ) as K;
}

export const embeddingForwardKernel = (cache: PipelineCache, s: EmbeddingShape): EmbeddingForwardKernel => build(cache, s, 'forward', FORWARD, s.B * s.T * s.C);
export const embeddingWteKernel = (cache: PipelineCache, s: EmbeddingShape): EmbeddingWteKernel => build(cache, s, 'backward_wte', BACKWARD_WTE, s.V * s.C);
export const embeddingWpeKernel = (cache: PipelineCache, s: EmbeddingShape): EmbeddingWpeKernel => build(cache, s, 'backward_wpe', BACKWARD_WPE, s.T * s.C);

/**
 * The positions of each token, for backward_wte: `order` (B·T) lists positions sorted by token
 * (stable: increasing position within a token), token v's run is order[starts[v] … starts[v+1]).
 * A counting sort, O(B·T + V), done where the tokens are on the host anyway.
 */
export function tokenIndex(tokens: ArrayLike<number>, V: number): { order: Uint32Array; starts: Uint32Array } {
  const starts = new Uint32Array(V + 1);
  for (let i = 0; i < tokens.length; i++) starts[tokens[i] + 1]++;
  for (let v = 0; v < V; v++) starts[v + 1] += starts[v];
  const next = starts.slice(0, V);
  const order = new Uint32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) order[next[tokens[i]]++] = i;
  return { order, starts };
}

function checkTokens(tokens: Uint32Array, { B, T, V }: EmbeddingShape): void {
  if (tokens.length !== B * T) throw new RangeError(`embedding: ${tokens.length} tokens, want B·T = ${B * T}`);
  const bad = tokens.findIndex((t) => t >= V);
  if (bad >= 0) throw new RangeError(`embedding: token ${tokens[bad]} at ${bad} is not < V ${V}`);
}

/** Eager forward (tests, tools): x (B, T, C). */
export async function embeddingForward(
  cache: PipelineCache,
  tokens: Uint32Array,
  wte: Float32Array,
  wpe: Float32Array,
  shape: EmbeddingShape,
): Promise<Float32Array> {
  checkTokens(tokens, shape);
  const r = await runOnce(cache, embeddingForwardKernel(cache, shape), { tokens, wte, wpe, x: shape.B * shape.T * shape.C * 4 }, ['x']);
  return new Float32Array(r.x);
}

/** Eager backward (tests, tools): dwte (V, C) and dwpe (T, C) from dx (B, T, C). */
export async function embeddingBackward(
  cache: PipelineCache,
  tokens: Uint32Array,
  dx: Float32Array,
  shape: EmbeddingShape,
): Promise<{ dwte: Float32Array; dwpe: Float32Array }> {
  checkTokens(tokens, shape);
  const { T, C, V } = shape;
  const { order, starts } = tokenIndex(tokens, V);
  const a = await runOnce(cache, embeddingWteKernel(cache, shape), { dx, dwte: V * C * 4, order, starts }, ['dwte']);
  const b = await runOnce(cache, embeddingWpeKernel(cache, shape), { dx, dwpe: T * C * 4 }, ['dwpe']);
  return { dwte: new Float32Array(a.dwte), dwpe: new Float32Array(b.dwpe) };
}
