// dev: matmul variants at the training shapes, Node/Dawn. Correctness vs matmulRef, then time.
import { existsSync, readFileSync } from 'node:fs';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { buildKernel, createBindGroup, encodeDispatch, readBuffer, writePadded, type Kernel } from '../kernel.ts';
import { matmulKernel, type MatmulShape } from '../matmul/matmul.ts';
import { matmulRef } from '../matmul/matmul.ref.ts';
import { closeness } from '../compare.ts';
import { createRng } from '../../shared/rng.ts';
import { randomArray } from '../conformance.ts';

const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(icd)) process.env.VK_ICD_FILENAMES = icd;
const ctx = await acquireDevice(createNodeGpu());
const device = ctx.device;
const cache = new PipelineCache(device);
const reps = Number(process.env.REPS ?? 5);
const BINDINGS = [
  { binding: 0, name: 'a', kind: 'read-only-storage' },
  { binding: 1, name: 'b', kind: 'read-only-storage' },
  { binding: 2, name: 'c', kind: 'storage' },
] as const;

type Variant = (s: MatmulShape) => Kernel<'a' | 'b' | 'c'>;
const v1src = readFileSync(new URL('./matmul_v1_tiled.wgsl', import.meta.url), 'utf8');
const v1: Variant = (s) =>
  buildKernel(cache, { label: 'v1', code: v1src, entryPoint: 'main', bindings: BINDINGS,
    constants: { M: s.M, N: s.N, K: s.K, TRANS_A: +!!s.transA, TRANS_B: +!!s.transB, TILE: 16 } },
    [Math.ceil(s.N / 16), Math.ceil(s.M / 16), 1]);
const variants: Record<string, Variant> = {
  ...(process.env.V1 ? { 'v1 tiled 16x16': v1 } : {}), // slow: opt in with V1=1
  'mainline (v2 register-blocked)': (s) => matmulKernel(cache, s),
};
const F = 784, H = Number(process.env.H ?? 128), C = 10, B = Number(process.env.B ?? 32);
const shapes: [string, MatmulShape][] = [
  ['fwd0', { M: B, N: H, K: F }],
  ['fwd1', { M: B, N: C, K: H }],
  ['dW1', { M: H, N: C, K: B, transA: true }],
  ['dh', { M: B, N: H, K: C, transB: true }],
  ['dW0', { M: F, N: H, K: B, transA: true }],
];
const rand = createRng(1);
const totals: Record<string, number> = {};
for (const [name, s] of shapes) {
  const a = randomArray(s.M * s.K, rand), bb = randomArray(s.K * s.N, rand);
  const want = matmulRef(a, bb, s);
  const line: string[] = [];
  for (const [vn, v] of Object.entries(variants)) {
    const k = v(s);
    await cache.ready();
    const bufs = { a: device.createBuffer({ size: a.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }),
      b: device.createBuffer({ size: bb.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }),
      c: device.createBuffer({ size: s.M * s.N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    writePadded(device, bufs.a, 0, a); writePadded(device, bufs.b, 0, bb);
    const g = createBindGroup(device, k, bufs);
    const run = async (n: number) => { const enc = device.createCommandEncoder(); const p = enc.beginComputePass(); for (let i = 0; i < n; i++) encodeDispatch(p, k, g); p.end(); device.queue.submit([enc.finish()]); return new Float32Array(await readBuffer(device, bufs.c)); };
    const got = await run(1);
    const ok = closeness(got, want, { atol: 1e-4, rtol: 1e-4 }).ok;
    let ms = Infinity; for (let rep = 0; rep < 3; rep++) { const t0 = performance.now(); await run(reps); ms = Math.min(ms, (performance.now() - t0) / reps); }
    totals[vn] = (totals[vn] ?? 0) + ms;
    line.push(`${vn} ${ms.toFixed(2)}${ok ? '' : ' WRONG'}`);
    Object.values(bufs).forEach((x) => x.destroy());
  }
  console.log(name.padEnd(5), line.join(' | '));
}
console.log('total', Object.entries(totals).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' | '));
device.destroy();
