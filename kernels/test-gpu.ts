// Test-only: one Dawn device per test file, and assertions on array closeness.
// Without a GPU, Vulkan is pointed at Chromium's SwiftShader (see DESIGN.md); an explicit
// VK_ICD_FILENAMES from the caller wins.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { acquireDevice, type GpuContext } from './device.ts';
import { createNodeGpu } from './node-gpu.ts';
import { useSwiftShaderWhenNoDriver } from './swiftshader.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { closeness, describeCloseness, type Tolerance } from './compare.ts';
import type { CheckResult } from './conformance.ts';

export { randomArray, randomDataset } from './conformance.ts';

export async function testGpu(): Promise<{ ctx: GpuContext; cache: PipelineCache }> {
  useSwiftShaderWhenNoDriver();
  const ctx = await acquireDevice(createNodeGpu());
  // Dawn keeps the process alive while a device exists.
  after(() => ctx.device.destroy());
  return { ctx, cache: new PipelineCache(ctx.device) };
}

export function assertCheck(r: CheckResult): void {
  assert.ok(r.ok, `${r.name}\n  ${r.detail.join('\n  ')}`);
}

export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  const c = closeness(got, want, tol);
  assert.ok(c.ok, describeCloseness(what, c, tol));
}

/** Central differences of a scalar function of x, in float64: dF/dx_i ≈ (F(x + h·e_i) − F(x − h·e_i)) / 2h. */
export function finiteDifference(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-3): Float64Array {
  const at = Float64Array.from(x);
  const grad = new Float64Array(at.length);
  for (let i = 0; i < at.length; i++) {
    const v = at[i];
    at[i] = v + h;
    const plus = f(at);
    at[i] = v - h;
    const minus = f(at);
    at[i] = v;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/** Σ g ⊙ y: turns a tensor-valued function into the scalar whose gradient w.r.t. y is g. */
export function dot(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += g[i] * y[i];
  return s;
}
