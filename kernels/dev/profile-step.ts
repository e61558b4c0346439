// dev corner: time each kernel of one training step in isolation (Node/Dawn), to see where a
// step's time goes. `node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/profile-step.ts [in hidden out batch]`
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import type { Kernel } from '../kernel.ts';
import { timeKernel } from './time-kernel.ts';
import { matmulKernel } from '../matmul/matmul.ts';
import { biasBackwardKernel, biasForwardKernel } from '../bias_relu/bias_relu.ts';
import { softmaxXentKernels } from '../softmax_xent/softmax_xent.ts';
import { adamwKernel, ADAMW_HYPER } from '../adamw/adamw.ts';
import { gatherKernel } from '../gather_batch/gather_batch.ts';

useSwiftShaderWhenNoDriver();
const [F, H, C, B] = (process.argv.slice(2).length ? process.argv.slice(2) : ['784', '128', '10', '32']).map(Number);
const ctx = await acquireDevice(createNodeGpu());
const device = ctx.device;
const cache = new PipelineCache(device);
const reps = Number(process.env.REPS ?? 10);

async function time(name: string, kernel: Kernel, sizes: Record<string, number>) {
  const ms = await timeKernel(
    cache,
    kernel,
    (b) => sizes[b],
    reps,
    kernel.bindings.some((b) => b.kind === 'uniform' && b.dynamicOffset) ? ADAMW_HYPER.size : 4,
  );
  console.log(`${name.padEnd(40)} ${ms.toFixed(2).padStart(8)} ms  grid ${kernel.workgroups.join('×')}`);
  return ms;
}

let total = 0;
total += await time('gather', gatherKernel(cache, { rows: B, features: F }), { images: (8500 * F) / 4, labels: 8500, indices: B, x: B * F, y: B });
total += await time(`fwd matmul (${B},${F})·(${F},${H})`, matmulKernel(cache, { M: B, N: H, K: F }), { a: B * F, b: F * H, c: B * H });
total += await time('bias+relu fwd', biasForwardKernel(cache, { rows: B, n: H, relu: true }), { x: B * H, bias: H });
total += await time(`fwd matmul (${B},${H})·(${H},${C})`, matmulKernel(cache, { M: B, N: C, K: H }), { a: B * H, b: H * C, c: B * C });
total += await time('bias fwd', biasForwardKernel(cache, { rows: B, n: C, relu: false }), { x: B * C, bias: C });
const xent = softmaxXentKernels(cache, { rows: B, classes: C });
total += await time('softmax_xent rows', xent.rows, { logits: B * C, labels: B, dlogits: B * C, rowLoss: B });
total += await time('softmax_xent total', xent.total, { rowLoss: B, loss: 1 });
total += await time('bias grad', biasBackwardKernel(cache, { rows: B, n: C, relu: false }), { dy: B * C, dbias: C });
total += await time(`dW1 (${H},${B})·(${B},${C})`, matmulKernel(cache, { M: H, N: C, K: B, transA: true }), { a: B * H, b: B * C, c: H * C });
total += await time(`dh (${B},${C})·(${C},${H})`, matmulKernel(cache, { M: B, N: H, K: C, transB: true }), { a: B * C, b: H * C, c: B * H });
total += await time('relu bias grad', biasBackwardKernel(cache, { rows: B, n: H, relu: true }), { dy: B * H, y: B * H, dbias: H });
total += await time(`dW0 (${F},${B})·(${B},${H})`, matmulKernel(cache, { M: F, N: H, K: B, transA: true }), { a: B * F, b: B * H, c: F * H });
const P = Math.ceil((F * H + H + H * C + C) / 4) * 4;
total += await time(`adamw ${P}`, adamwKernel(cache, P + 512), { params: P + 512, grad: P + 512, m: P + 512, v: P + 512, hyper: 16 });
console.log(`sum ${total.toFixed(1)} ms/step`);
device.destroy();
