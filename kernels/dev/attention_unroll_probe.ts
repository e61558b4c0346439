// dev probe: is SwiftShader's cost in the fused attention the per-row private arrays? The forward
// at gpt-small's head (hs 64, T 256, one sequence, 6 heads) with the head's 16 quads unrolled into
// named registers (generated here; per-key rescale, no key blocks) vs the mainline direct feed.
//   node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/attention_unroll_probe.ts
// Measured 2026-11-2x under load 6–8 (npm run bench beside it): mainline 852 / 676 ms, unrolled
// 334 / 400 ms — about 2×. A mainline form would keep a head of ≤ 64 in four mat4x4f registers
// (not done yet: see the README's kernel notes).
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { buildKernel, createBindGroup, encodeDispatch } from '../kernel.ts';
import { medianGpuMs } from '../gpu-timing.ts';
import { attentionForwardKernel } from '../attention/attention.ts';
useSwiftShaderWhenNoDriver();
const ctx = await acquireDevice(createNodeGpu());
const device = ctx.device;
const [B, T, C, NH] = [1, 256, 384, 6];
const HS4 = C / NH / 4;
const R = (f: (i: number) => string, sep = '\n') => Array.from({ length: HS4 }, (_, i) => f(i)).join(sep);
const code = `
override B: u32; override T: u32; override C: u32; override NH: u32;
@group(0) @binding(0) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
const HS = ${HS4 * 4}u;
@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.y / NH; let h = wg.y % NH; let t = wg.x * 16u + lid;
  if (t >= T) { return; }
  let scale = inverseSqrt(f32(HS));
  let qb = ((b * T + t) * 3u * C + h * HS) / 4u;
  ${R((i) => `let q${i} = qkv[qb + ${i}u] * scale; var o${i} = vec4f(0.0);`)}
  var m = -3.0e38; var l = 0.0;
  let kb0 = (b * T * 3u * C + C + h * HS) / 4u;
  for (var j = 0u; j <= t; j++) {
    let kb = kb0 + j * 3u * C / 4u;
    let sv = ${R((i) => `q${i} * qkv[kb + ${i}u]`, ' + ')};
    let s = sv.x + sv.y + sv.z + sv.w;
    let mx = max(m, s);
    let corr = exp(m - mx);
    let p = exp(s - mx);
    l = l * corr + p;
    let vb = kb + C / 4u;
    ${R((i) => `o${i} = o${i} * corr + p * qkv[vb + ${i}u];`)}
    m = mx;
  }
  let ob = ((b * T + t) * C + h * HS) / 4u;
  let inv = 1.0 / l;
  ${R((i) => `out[ob + ${i}u] = o${i} * inv;`)}
  lse[(b * NH + h) * T + t] = m + log(l);
}`;
const looped = `
override B: u32; override T: u32; override C: u32; override NH: u32;
@group(0) @binding(0) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
const HS = ${HS4 * 4}u;
const HS4 = ${HS4}u;
@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.y / NH; let h = wg.y % NH; let t = wg.x * 16u + lid;
  if (t >= T) { return; }
  let scale = inverseSqrt(f32(HS));
  let qb = ((b * T + t) * 3u * C + h * HS) / 4u;
  var q: array<vec4f, HS4>;
  var o: array<vec4f, HS4>;
  for (var i = 0u; i < HS4; i++) { q[i] = qkv[qb + i] * scale; o[i] = vec4f(0.0); }
  var m = -3.0e38; var l = 0.0;
  let kb0 = (b * T * 3u * C + C + h * HS) / 4u;
  for (var j = 0u; j <= t; j++) {
    let kb = kb0 + j * 3u * C / 4u;
    var sv = vec4f(0.0);
    for (var i = 0u; i < HS4; i++) { sv += q[i] * qkv[kb + i]; }
    let s = sv.x + sv.y + sv.z + sv.w;
    let mx = max(m, s);
    let corr = exp(m - mx);
    let p = exp(s - mx);
    l = l * corr + p;
    let vb = kb + C / 4u;
    for (var i = 0u; i < HS4; i++) { o[i] = o[i] * corr + p * qkv[vb + i]; }
    m = mx;
  }
  let ob = ((b * T + t) * C + h * HS) / 4u;
  let inv = 1.0 / l;
  for (var i = 0u; i < HS4; i++) { out[ob + i] = o[i] * inv; }
  lse[(b * NH + h) * T + t] = m + log(l);
}`;
const cache = new PipelineCache(device);
const bindings = [
  { binding: 0, name: 'qkv', kind: 'read-only-storage' },
  { binding: 1, name: 'out', kind: 'storage' },
  { binding: 2, name: 'lse', kind: 'storage' },
] as const;
const unrolled = buildKernel(cache, { label: 'unrolled', code, entryPoint: 'main', constants: { B, T, C, NH }, bindings }, [T / 16, B * NH, 1]);
const loopedK = buildKernel(cache, { label: 'looped', code: looped, entryPoint: 'main', constants: { B, T, C, NH }, bindings }, [T / 16, B * NH, 1]);
const main = attentionForwardKernel(cache, { B, T, C, NH }, { tiled: false, wg: 16, bk: 0, lanes: 1 });
await cache.ready();
const mk = (floats: number) => device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.STORAGE });
const bufs = { qkv: mk(B * T * 3 * C), out: mk(B * T * C), lse: mk(B * NH * T), dout: mk(B * T * C), dd: mk(B * NH * T), dqkv: mk(B * T * 3 * C) };
for (let r = 0; r < 2; r++) {
  for (const [name, k] of [
    ['mainline direct wg16', main],
    ['unrolled, per-key rescale', unrolled],
    ['same with function-local arrays and loops', loopedK],
  ] as const) {
    const g = createBindGroup(device, k as typeof main, bufs);
    console.log(name, (await medianGpuMs(device, (p) => encodeDispatch(p, k, g), 3)).toFixed(1), 'ms');
  }
}
process.exit(0);
