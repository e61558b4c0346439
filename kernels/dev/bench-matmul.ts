// dev: numbered matmul versions at the training shapes, Node/Dawn (llm.c's dev/cuda style).
// Correctness vs matmulRef, then GFLOP/s (median of REPS timed batches of ITERS dispatches).
//   node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/bench-matmul.ts [v2,v3,v4] [mlp|gpt|square|small] [--cpu]
// (DIRECT_ONLY=1: v4 at its barrier-free configurations only)
// v1: matmul_v1_tiled.wgsl (see its header; not run here any more).
// v2: matmul_v2_regblock.wgsl (register-blocked 4×4, scalar loads, no workgroup memory).
// v3: matmul_v3_wgtile.wgsl (workgroup-memory tiles + 4×4 register blocks + vec4 storage loads).
// v5: matmul_v5_direct8x8.wgsl (v4's direct path with 8×8 outputs per invocation).
// v6: v5 with op(A) shared by the 4 lanes of a subgroup quad through shuffles, promoted as the
//     mainline's `subgroups` candidates (matmul/matmul_subgroup.wgsl): it runs as part of v4 here.
// v4: the mainline, matmul/matmul.wgsl: v3's tiled path and a barrier-free path reading 4×4
//     blocks with vec4 loads (mat4x4 FMAs), at every MATMUL_CANDIDATES configuration.
import { readFileSync } from 'node:fs';
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import { buildKernel, createBindGroup, encodeDispatch, readBuffer, writePadded, type Kernel } from '../kernel.ts';
import { MATMUL_CANDIDATES, MATMUL_SUBGROUP_CANDIDATES, matmulKernel, type MatmulShape } from '../matmul/matmul.ts';
import { matmulRef } from '../matmul/matmul.ref.ts';
import { closeness } from '../compare.ts';
import { createRng } from '../../shared/rng.ts';
import { randomArray } from '../conformance.ts';

useSwiftShaderWhenNoDriver();
const ctx = await acquireDevice(createNodeGpu());
const cpu = process.argv.includes('--cpu'); // time by this process's CPU time (dev/cpu-time.ts) instead of wall time
const device = ctx.device;
const cache = new PipelineCache(device);
const reps = Number(process.env.REPS ?? 5);
const iters = Number(process.env.ITERS ?? 3);
const BINDINGS = [
  { binding: 0, name: 'a', kind: 'read-only-storage' },
  { binding: 1, name: 'b', kind: 'read-only-storage' },
  { binding: 2, name: 'c', kind: 'storage' },
] as const;
const read = (f: string) => readFileSync(new URL(f, import.meta.url), 'utf8');
const flags = (s: MatmulShape) => ({ M: s.M, N: s.N, K: s.K, TRANS_A: +!!s.transA, TRANS_B: +!!s.transB });

type Variant = (s: MatmulShape) => Kernel<'a' | 'b' | 'c'>;
const variants: Record<string, Variant> = {};
const which = process.argv[2] ?? 'v2,v4';
if (which.includes('v2')) {
  const src = read('./matmul_v2_regblock.wgsl');
  variants['v2 8x8'] = (s) =>
    buildKernel(cache, { label: 'v2', code: src, entryPoint: 'main', bindings: BINDINGS, constants: { ...flags(s), WG_X: 8, WG_Y: 8 } }, [
      Math.ceil(s.N / 32),
      Math.ceil(s.M / 32),
      1,
    ]);
}
if (which.includes('v3')) {
  const body = read('./matmul_v3_wgtile.wgsl');
  const [f32, vec4] = [read('../matmul/matmul_load_f32.wgsl'), read('../matmul/matmul_load_vec4.wgsl')];
  const wgs = (process.env.WGS ?? '8x8,8x4').split(',').map((x) => x.split('x').map(Number));
  const bks = (process.env.BKS ?? '16').split(',').map(Number);
  for (const [x, y] of wgs)
    for (const bk of bks) {
      variants[`v3 ${x}x${y}x${bk}`] = (s) => {
        const vec = (s.transA ? s.M : s.K) % 4 === 0 && (s.transB ? s.K : s.N) % 4 === 0;
        return buildKernel(
          cache,
          { label: 'v3', code: (vec ? vec4 : f32) + body, entryPoint: 'main', bindings: BINDINGS, constants: { ...flags(s), WG_X: x, WG_Y: y, BK: bk } },
          [Math.ceil(s.N / (4 * x)), Math.ceil(s.M / (4 * y)), 1],
        );
      };
    }
}
if (which.includes('v5')) {
  const body = read('./matmul_v5_direct8x8.wgsl');
  const [f32, vec4] = [read('../matmul/matmul_load_f32.wgsl'), read('../matmul/matmul_load_vec4.wgsl')];
  for (const [x, y] of [
    [4, 4],
    [8, 8],
    [8, 4],
  ]) {
    variants[`v5 8x8 blocks wg ${x}x${y}`] = (s) => {
      const vec = (s.transA ? s.M : s.K) % 4 === 0 && (s.transB ? s.K : s.N) % 4 === 0;
      return buildKernel(
        cache,
        { label: 'v5', code: (vec ? vec4 : f32) + body, entryPoint: 'main', bindings: BINDINGS, constants: { ...flags(s), WG_X: x, WG_Y: y } },
        [Math.ceil(s.N / (8 * x)), Math.ceil(s.M / (8 * y)), 1],
      );
    };
  }
}
if (which.includes('v4')) {
  for (const c of [...MATMUL_CANDIDATES, ...MATMUL_SUBGROUP_CANDIDATES].filter((c) => !process.env.DIRECT_ONLY || !c.tiled))
    variants[`v4 ${c.tiled ? `tiled bk${c.bk}` : c.subgroups ? 'direct+sg' : 'direct'} ${c.wg.join('x')}`] = (s) => matmulKernel(cache, s, c);
}
const set = process.argv[3] ?? 'mlp';
const sets: Record<string, [string, MatmulShape][]> = {
  mlp: [
    // 784-64-10, batch 32
    ['fwd0', { M: 32, N: 64, K: 784 }],
    ['fwd1', { M: 32, N: 10, K: 64 }],
    ['dW1', { M: 64, N: 10, K: 32, transA: true }],
    ['dh1', { M: 32, N: 64, K: 10, transB: true }],
    ['dW0', { M: 784, N: 64, K: 32, transA: true }],
  ],
  gpt: [
    // B·T = 512 rows, width 64, MLP 256, vocab 256
    ['qkv', { M: 512, N: 192, K: 64 }],
    ['up', { M: 512, N: 256, K: 64 }],
    ['down', { M: 512, N: 64, K: 256 }],
    ['dX', { M: 512, N: 64, K: 256, transB: true }],
    ['dW', { M: 64, N: 256, K: 512, transA: true }],
  ],
  square: [['512', { M: 512, N: 512, K: 512 }]],
  // gpt-small (width 384, MLP 1536) at B·T = 256 rows, as npm run bench times them
  small: [
    ['qkv', { M: 256, N: 1152, K: 384 }],
    ['up', { M: 256, N: 1536, K: 384 }],
    ['down', { M: 256, N: 384, K: 1536 }],
    ['dW_up', { M: 384, N: 1536, K: 256, transA: true }],
    ['dx_qkv', { M: 256, N: 384, K: 1152, transB: true }],
  ],
  // the shapes where npm run bench found ours < 3× TFJS or ORT (README)
  misses: [
    ['dW_up', { M: 64, N: 256, K: 512, transA: true }],
    ['dW0', { M: 784, N: 64, K: 32, transA: true }],
    ['fwd1', { M: 32, N: 10, K: 64 }],
  ],
};
const rand = createRng(1);
const totals: Record<string, number> = {};
for (const [name, s] of sets[set]) {
  const a = randomArray(s.M * s.K, rand),
    bb = randomArray(s.K * s.N, rand);
  const want = matmulRef(a, bb, s);
  const line: string[] = [];
  for (const [vn, v] of Object.entries(variants)) {
    const k = v(s);
    await cache.ready();
    const bufs = {
      a: device.createBuffer({ size: a.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }),
      b: device.createBuffer({ size: bb.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }),
      c: device.createBuffer({ size: s.M * s.N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
    };
    writePadded(device, bufs.a, 0, a);
    writePadded(device, bufs.b, 0, bb);
    const g = createBindGroup(device, k, bufs);
    const run = async (n: number) => {
      const enc = device.createCommandEncoder();
      const p = enc.beginComputePass();
      for (let i = 0; i < n; i++) encodeDispatch(p, k, g);
      p.end();
      device.queue.submit([enc.finish()]);
      return new Float32Array(await readBuffer(device, bufs.c));
    };
    const ok = closeness(await run(1), want, { atol: 1e-4, rtol: 1e-4 }).ok;
    const times: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      await run(iters);
      const c = process.cpuUsage(c0);
      times.push((cpu ? (c.user + c.system) / 1000 : performance.now() - t0) / iters);
    }
    const ms = times.sort((x, y) => x - y)[reps >> 1];
    const gflops = (2 * s.M * s.N * s.K) / ms / 1e6;
    totals[vn] = (totals[vn] ?? 0) + ms;
    line.push(`${vn} ${gflops.toFixed(2)}${ok ? '' : ' WRONG'}`);
    Object.values(bufs).forEach((x) => x.destroy());
  }
  console.log(`${name} GFLOP/s:`, line.join(' | '));
}
console.log(
  'total ms',
  Object.entries(totals)
    .sort((x, y) => x[1] - y[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(' | '),
);
device.destroy();
