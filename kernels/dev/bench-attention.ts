// dev: causal attention forward + backward in Node/Dawn, CPU ms per call (cpu-time.ts: SwiftShader
// runs in this process, so CPU time is steady where wall time swings with the machine's load) and µs per token, at
// contexts T (tokens = B·T): v1 (attention_v1_rows.wgsl: a row per invocation with the (T, T)
// probabilities in storage, the mainline before the fused kernel) and every fused candidate.
//   node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/bench-attention.ts [C NH B] [T,T,…] [v1,fused]
import { readFileSync } from 'node:fs';
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { buildKernel, createBindGroup, encodeDispatch, grid1d, type Kernel } from '../kernel.ts';
import { cpuMs } from './cpu-time.ts';
import { ATTENTION_CANDIDATES, attentionBackwardKernels, attentionForwardKernel, type AttentionConfig, type AttentionShape } from '../attention/attention.ts';

useSwiftShaderWhenNoDriver();
const [C, NH, B] = (process.argv[2] ?? '384,6,1').split(',').map(Number);
const Ts = (process.argv[3] ?? '256,1024').split(',').map(Number);
const which = process.argv[4] ?? 'v1,fused';
const reps = Number(process.env.REPS ?? 3);
const ctx = await acquireDevice(createNodeGpu());
const device = ctx.device;

function v1Kernels(cache: PipelineCache, s: AttentionShape): Kernel[] {
  const code = readFileSync(new URL('./attention_v1_rows.wgsl', import.meta.url), 'utf8');
  const constants = { B: s.B, T: s.T, C: s.C, NH: s.NH, WG: 64 };
  const grid = grid1d(s.B * s.NH * s.T, 64);
  const fwd = [
    { binding: 0, name: 'qkv', kind: 'read-only-storage' },
    { binding: 1, name: 'out', kind: 'storage' },
    { binding: 2, name: 'att', kind: 'storage' },
  ] as const;
  const bwd = [
    { binding: 0, name: 'qkv', kind: 'read-only-storage' },
    { binding: 2, name: 'att', kind: 'storage' },
    { binding: 3, name: 'dout', kind: 'read-only-storage' },
    { binding: 4, name: 'dpre', kind: 'storage' },
    { binding: 5, name: 'dqkv', kind: 'storage' },
  ] as const;
  return [
    buildKernel(cache, { label: 'v1 fwd', code, entryPoint: 'forward', constants, bindings: fwd }, grid),
    buildKernel(cache, { label: 'v1 bwd q', code, entryPoint: 'backward_q', constants, bindings: bwd }, grid),
    buildKernel(cache, { label: 'v1 bwd kv', code, entryPoint: 'backward_kv', constants, bindings: bwd }, grid),
  ];
}

async function time(name: string, kernels: Kernel[], s: AttentionShape, cache: PipelineCache) {
  await cache.ready();
  const { B, T, C, NH } = s;
  const floats: Record<string, number> = {
    qkv: B * T * 3 * C,
    out: B * T * C,
    dout: B * T * C,
    dqkv: B * T * 3 * C,
    lse: B * NH * T,
    dd: B * NH * T,
    att: B * NH * T * T,
    dpre: B * NH * T * T,
  };
  const bufs = new Map<string, GPUBuffer>();
  const buf = (n: string) =>
    bufs.get(n) ?? (bufs.set(n, device.createBuffer({ size: Math.max(256, floats[n] * 4), usage: GPUBufferUsage.STORAGE })), bufs.get(n)!);
  const groups = kernels.map((k) => createBindGroup(device, k, Object.fromEntries(k.bindings.map((b) => [b.name, buf(b.name)]))));
  const fwd = await cpuMs(device, (p) => encodeDispatch(p, kernels[0], groups[0]), reps);
  const all = await cpuMs(device, (p) => kernels.forEach((k, i) => encodeDispatch(p, k, groups[i])), reps);
  const storage = [...bufs.values()].reduce((n, b) => n + b.size, 0);
  bufs.forEach((b) => b.destroy());
  const tokens = B * T;
  console.log(
    `T ${String(T).padStart(5)} ${name.padEnd(52)} fwd ${fwd.toFixed(1).padStart(8)} ms  fwd+bwd ${all.toFixed(1).padStart(8)} ms  ${((all * 1000) / tokens).toFixed(0).padStart(7)} µs/token  storage ${(storage / 2 ** 20).toFixed(1)} MiB`,
  );
}

for (const T of Ts) {
  const s = { B, T, C, NH };
  if (which.includes('v1')) {
    const cache = new PipelineCache(device);
    await time('v1 rows + (T, T) probabilities', v1Kernels(cache, s), s, cache);
  }
  if (which.includes('fused')) {
    const configs: AttentionConfig[] = process.env.CONFIGS ? JSON.parse(process.env.CONFIGS) : [...ATTENTION_CANDIDATES];
    for (const config of configs) {
      const cache = new PipelineCache(device);
      await time(`fused ${JSON.stringify(config)}`, [attentionForwardKernel(cache, s, config), ...attentionBackwardKernels(cache, s, config)], s, cache);
    }
  }
}
device.destroy();
