// Spec of the AdamW kernel: the hyper-parameter uniform (layout defined here, once), the
// override values and the dispatch grid.
import src from './adamw.wgsl?raw';
import { adamwLr, type AdamWConfig } from '../../shared/mlp.ts';
import { alignTo, buildKernel, grid1d, runOnce, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';
import { defineUniformStruct } from '../uniform-struct.ts';

export const ADAMW_WG = 256;

/**
 * Per-step uniform. 1−β and the bias corrections 1−β^t are computed on the host in float64:
 * in f32 on the GPU, 1 − 0.999 keeps only ~4 significant digits (v off by 1e-5 relative).
 */
export const ADAMW_HYPER = defineUniformStruct('AdamWHyper', [
  ['lr', 'f32'],
  ['beta1', 'f32'],
  ['beta2', 'f32'],
  ['oneMinusBeta1', 'f32'],
  ['oneMinusBeta2', 'f32'],
  ['eps', 'f32'],
  ['weightDecay', 'f32'],
  ['biasCorrection1', 'f32'],
  ['biasCorrection2', 'f32'],
  /** Clip threshold for the global gradient norm (entry `clipped`); 0 = no clipping. */
  ['maxGradNorm', 'f32'],
  /** 1-based step count t the corrections were computed for (kept for inspection of captured uniforms). */
  ['step', 'u32'],
]);

const HYPER_BINDING = 4;
const CODE = `${ADAMW_HYPER.wgsl}@group(0) @binding(${HYPER_BINDING}) var<uniform> hyper: ${ADAMW_HYPER.name};\n\n${src}`;

const BINDINGS = [
  { binding: 0, name: 'params', kind: 'storage' },
  { binding: 1, name: 'grad', kind: 'read-only-storage' },
  { binding: 2, name: 'm', kind: 'storage' },
  { binding: 3, name: 'v', kind: 'storage' },
  // Step t's hyper-parameters sit at a dynamic offset, so one bind group serves a whole round.
  { binding: HYPER_BINDING, name: 'hyper', kind: 'uniform', dynamicOffset: true },
] as const;

const CLIPPED_BINDINGS = [...BINDINGS, { binding: 5, name: 'sumsq', kind: 'storage' }] as const;
const SUMSQ_BINDINGS = [
  { binding: 1, name: 'grad', kind: 'read-only-storage' },
  { binding: 5, name: 'sumsq', kind: 'storage' },
] as const;

export type AdamWKernel = Kernel<(typeof BINDINGS)[number]['name']>;
export type AdamWClippedKernel = Kernel<(typeof CLIPPED_BINDINGS)[number]['name']>;
export type GradSumsqKernel = Kernel<(typeof SUMSQ_BINDINGS)[number]['name']>;
/** Bytes of the sumsq buffer (one f32). */
export const GRAD_SUMSQ_BYTES = 4;

/** Values per invocation (the shader's vec4): buffers hold a multiple of this many floats. */
export const ADAMW_VALUES_PER_INVOCATION = 4;

/** AdamW over `count` floats; count must be a multiple of 4 (pad with zeros: they stay zero). */
export function adamwKernel(cache: PipelineCache, count: number): AdamWKernel {
  return buildKernel(cache, { label: 'adamw', code: CODE, entryPoint: 'main', constants: adamwConstants(count), bindings: BINDINGS }, adamwGrid(cache, count));
}

/**
 * AdamW with clipping by global norm: [grad_sumsq, clipped], dispatched in that order in one
 * pass. The first reduces Σ g² into `sumsq` (one workgroup), the second scales g by
 * min(1, maxGradNorm/‖g‖) before the update (hyper.maxGradNorm; 0 = no clip).
 */
export function adamwClippedKernels(cache: PipelineCache, count: number): [GradSumsqKernel, AdamWClippedKernel] {
  const constants = adamwConstants(count);
  return [
    buildKernel(cache, { label: 'grad_sumsq', code: CODE, entryPoint: 'grad_sumsq', constants, bindings: SUMSQ_BINDINGS }, [1, 1, 1]),
    buildKernel(cache, { label: 'adamw_clipped', code: CODE, entryPoint: 'clipped', constants, bindings: CLIPPED_BINDINGS }, adamwGrid(cache, count)),
  ];
}

function adamwGrid(cache: PipelineCache, count: number): [number, number, number] {
  return grid1d(count / ADAMW_VALUES_PER_INVOCATION, ADAMW_WG, cache.device.limits.maxComputeWorkgroupsPerDimension);
}

function adamwConstants(count: number): Record<string, number> {
  if (!Number.isInteger(count) || count < 1 || count % ADAMW_VALUES_PER_INVOCATION !== 0) {
    throw new RangeError(`adamw: count must be a positive multiple of ${ADAMW_VALUES_PER_INVOCATION}, got ${count}`);
  }
  return { COUNT4: count / ADAMW_VALUES_PER_INVOCATION, WG: ADAMW_WG };
}

/** Writes step t's (1-based) uniform at `byteOffset`. */
export function writeAdamWHyper(view: DataView, byteOffset: number, t: number, cfg: AdamWConfig): void {
  if (!Number.isInteger(t) || t < 1) throw new RangeError(`adamw: step must be a positive integer, got ${t}`);
  ADAMW_HYPER.write(view, byteOffset, {
    lr: adamwLr(cfg, t),
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    oneMinusBeta1: 1 - cfg.beta1,
    oneMinusBeta2: 1 - cfg.beta2,
    eps: cfg.eps,
    weightDecay: cfg.weightDecay,
    biasCorrection1: 1 - cfg.beta1 ** t,
    biasCorrection2: 1 - cfg.beta2 ** t,
    maxGradNorm: cfg.maxGradNorm ?? 0,
    step: t,
  });
}

/**
 * Eager AdamW step t (tests, tools): returns the new params, m and v. With cfg.maxGradNorm the
 * clipped form runs: Σ g² reduced on the GPU, then the update (two dispatches, no readback between).
 */
export async function adamw(
  cache: PipelineCache,
  state: { params: Float32Array; grad: Float32Array; m: Float32Array; v: Float32Array },
  t: number,
  cfg: AdamWConfig,
): Promise<{ params: Float32Array; m: Float32Array; v: Float32Array; sumsq?: number }> {
  const n = state.params.length;
  if ([state.grad, state.m, state.v].some((a) => a.length !== n)) throw new RangeError('adamw: params, grad, m, v differ in length');
  const padded = alignTo(n, ADAMW_VALUES_PER_INVOCATION);
  const pad = (a: Float32Array) => {
    const out = new Float32Array(padded);
    out.set(a);
    return out;
  };
  const hyper = new ArrayBuffer(ADAMW_HYPER.size);
  writeAdamWHyper(new DataView(hyper), 0, t, cfg);
  const unpad = (b: ArrayBuffer) => new Float32Array(b, 0, n);
  if (cfg.maxGradNorm) {
    const [sumsqKernel, clipped] = adamwClippedKernels(cache, padded);
    const grad = pad(state.grad);
    const reduced = await runOnce(cache, sumsqKernel, { grad, sumsq: GRAD_SUMSQ_BYTES }, ['sumsq']);
    // The eager form reads sumsq back only to hand it to the second one-shot dispatch (and to
    // the test); the trainer keeps it in a GPU buffer between the two dispatches.
    const out = await runOnce(
      cache,
      clipped,
      { params: pad(state.params), grad, m: pad(state.m), v: pad(state.v), hyper: new Uint8Array(hyper), sumsq: new Float32Array(reduced.sumsq) },
      ['params', 'm', 'v'],
    );
    return { params: unpad(out.params), m: unpad(out.m), v: unpad(out.v), sumsq: new Float32Array(reduced.sumsq)[0] };
  }
  const out = await runOnce(
    cache,
    adamwKernel(cache, padded),
    { params: pad(state.params), grad: pad(state.grad), m: pad(state.m), v: pad(state.v), hyper: new Uint8Array(hyper) },
    ['params', 'm', 'v'],
  );
  return { params: unpad(out.params), m: unpad(out.m), v: unpad(out.v) };
}
