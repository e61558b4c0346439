// Spec of the bias/ReLU kernels: bindings per entry point, override values, dispatch grids.
import src from './bias_relu.wgsl?raw';
import { buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

/** An activation (rows, n): rows = batch, n = features. */
export interface BiasShape {
  rows: number;
  n: number;
  relu: boolean;
}

/** Invocations per workgroup for all three entry points. */
export const BIAS_RELU_WG = 64;

const FORWARD = [
  { binding: 0, name: 'x', kind: 'storage' },
  { binding: 1, name: 'bias', kind: 'read-only-storage' },
] as const;
const RELU_BIAS_GRAD = [
  { binding: 2, name: 'dy', kind: 'storage' },
  { binding: 3, name: 'y', kind: 'read-only-storage' },
  { binding: 4, name: 'dbias', kind: 'storage' },
] as const;
const BIAS_GRAD = [
  { binding: 2, name: 'dy', kind: 'storage' },
  { binding: 4, name: 'dbias', kind: 'storage' },
] as const;

const GELU_FORWARD = [
  { binding: 0, name: 'x', kind: 'storage' },
  { binding: 1, name: 'bias', kind: 'read-only-storage' },
  { binding: 5, name: 'act', kind: 'storage' },
] as const;
const GELU_BIAS_GRAD = [
  { binding: 2, name: 'dy', kind: 'storage' },
  { binding: 6, name: 'pre', kind: 'read-only-storage' },
  { binding: 4, name: 'dbias', kind: 'storage' },
] as const;

export type GeluForwardKernel = Kernel<(typeof GELU_FORWARD)[number]['name']>;
export type GeluBiasGradKernel = Kernel<(typeof GELU_BIAS_GRAD)[number]['name']>;
export type BiasForwardKernel = Kernel<(typeof FORWARD)[number]['name']>;
export type ReluBiasGradKernel = Kernel<(typeof RELU_BIAS_GRAD)[number]['name']>;
export type BiasGradKernel = Kernel<(typeof BIAS_GRAD)[number]['name']>;

function constants({ rows, n, relu }: BiasShape): Record<string, number> {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(n) || n < 1) {
    throw new RangeError(`bias_relu: rows and n must be positive integers, got ${rows}, ${n}`);
  }
  return { ROWS: rows, N: n, RELU: +relu, WG: BIAS_RELU_WG };
}

/** x (rows, n) ← act(x + bias), in place. */
export function biasForwardKernel(cache: PipelineCache, shape: BiasShape): BiasForwardKernel {
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    { label: `bias${shape.relu ? '_relu' : ''}_forward`, code: src, entryPoint: 'forward', constants: constants(shape), bindings: FORWARD },
    grid1d(shape.rows * shape.n, BIAS_RELU_WG, max),
  );
}

/**
 * Backward of bias (+ ReLU): with ReLU, gates dy (rows, n) in place by y > 0 and sums it over
 * rows into dbias (n); without, only the sum (`bias_grad` entry point, no `y` binding).
 */
export function biasBackwardKernel(cache: PipelineCache, shape: BiasShape & { relu: true }): ReluBiasGradKernel;
export function biasBackwardKernel(cache: PipelineCache, shape: BiasShape & { relu: false }): BiasGradKernel;
export function biasBackwardKernel(cache: PipelineCache, shape: BiasShape): ReluBiasGradKernel | BiasGradKernel {
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  const grid = grid1d(shape.n, BIAS_RELU_WG, max);
  const c = constants(shape);
  return shape.relu
    ? buildKernel(cache, { label: 'relu_bias_grad', code: src, entryPoint: 'relu_bias_grad', constants: c, bindings: RELU_BIAS_GRAD }, grid)
    : buildKernel(cache, { label: 'bias_grad', code: src, entryPoint: 'bias_grad', constants: c, bindings: BIAS_GRAD }, grid);
}

/** Eager forward (tests, tools): returns act(x + bias). */
export async function biasForward(cache: PipelineCache, x: Float32Array, bias: Float32Array, shape: BiasShape): Promise<Float32Array> {
  if (x.length !== shape.rows * shape.n || bias.length !== shape.n) throw new RangeError('biasForward: x must be (rows, n), bias (n)');
  const out = await runOnce(cache, biasForwardKernel(cache, shape), { x, bias }, ['x']);
  return new Float32Array(out.x);
}

/** Eager backward (tests, tools): returns the gated dy (rows, n) and dbias (n). */
export async function biasBackward(
  cache: PipelineCache,
  dy: Float32Array,
  y: Float32Array | null,
  shape: BiasShape,
): Promise<{ dx: Float32Array; dbias: Float32Array }> {
  if (dy.length !== shape.rows * shape.n) throw new RangeError('biasBackward: dy must be (rows, n)');
  if (shape.relu) {
    if (!y || y.length !== dy.length) throw new RangeError('biasBackward: ReLU needs y (rows, n)');
    const out = await runOnce(cache, biasBackwardKernel(cache, { ...shape, relu: true }), { dy, y, dbias: shape.n * 4 }, ['dy', 'dbias']);
    return { dx: new Float32Array(out.dy), dbias: new Float32Array(out.dbias) };
  }
  const out = await runOnce(cache, biasBackwardKernel(cache, { ...shape, relu: false }), { dy, dbias: shape.n * 4 }, ['dy', 'dbias']);
  return { dx: new Float32Array(out.dy), dbias: new Float32Array(out.dbias) };
}

/** (rows, n) shape of the GELU variant (the `relu` field does not apply). */
export type GeluShape = Omit<BiasShape, 'relu'>;

/** x (rows, n) ← x + bias in place (the pre-activation u, kept for backward); act (rows, n) ← GELU(u). */
export function geluForwardKernel(cache: PipelineCache, shape: GeluShape): GeluForwardKernel {
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    { label: 'bias_gelu_forward', code: src, entryPoint: 'gelu_forward', constants: constants({ ...shape, relu: false }), bindings: GELU_FORWARD },
    grid1d(shape.rows * shape.n, BIAS_RELU_WG, max),
  );
}

/** dy (rows, n) ← dy ⊙ GELU'(pre) in place; dbias (n) ← Σ_rows of that. */
export function geluBackwardKernel(cache: PipelineCache, shape: GeluShape): GeluBiasGradKernel {
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  return buildKernel(
    cache,
    { label: 'gelu_bias_grad', code: src, entryPoint: 'gelu_bias_grad', constants: constants({ ...shape, relu: false }), bindings: GELU_BIAS_GRAD },
    grid1d(shape.n, BIAS_RELU_WG, max),
  );
}

/** Eager GELU forward (tests, tools): the pre-activation x + bias and GELU of it. */
export async function geluForward(
  cache: PipelineCache,
  x: Float32Array,
  bias: Float32Array,
  shape: GeluShape,
): Promise<{ pre: Float32Array; act: Float32Array }> {
  if (x.length !== shape.rows * shape.n || bias.length !== shape.n) throw new RangeError('geluForward: x must be (rows, n), bias (n)');
  const out = await runOnce(cache, geluForwardKernel(cache, shape), { x, bias, act: x.byteLength }, ['x', 'act']);
  return { pre: new Float32Array(out.x), act: new Float32Array(out.act) };
}

/** Eager GELU backward (tests, tools): dx = dy ⊙ GELU'(pre) and dbias. */
export async function geluBackward(
  cache: PipelineCache,
  dy: Float32Array,
  pre: Float32Array,
  shape: GeluShape,
): Promise<{ dx: Float32Array; dbias: Float32Array }> {
  if (dy.length !== shape.rows * shape.n || pre.length !== dy.length) throw new RangeError('geluBackward: dy and pre must be (rows, n)');
  const out = await runOnce(cache, geluBackwardKernel(cache, shape), { dy, pre, dbias: shape.n * 4 }, ['dy', 'dbias']);
  return { dx: new Float32Array(out.dy), dbias: new Float32Array(out.dbias) };
}
