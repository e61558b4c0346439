// dev corner: time each kind of kernel in one GPT layer's training step in isolation (Node/Dawn),
// with the autotuned variants, to see where a step's time goes.
//   node --import tsx --import ./kernels/wgsl-register.mjs kernels/dev/profile-gpt.ts [micro|small] [batch]
import { useSwiftShaderWhenNoDriver } from '../swiftshader.ts';
import { GPT_DEFAULT, GPT_SMALL } from '../../shared/model.ts';
import { acquireDevice } from '../device.ts';
import { createNodeGpu } from '../node-gpu.ts';
import { PipelineCache } from '../pipeline-cache.ts';
import type { Kernel } from '../kernel.ts';
import { timeKernel } from './time-kernel.ts';
import { matmulKernel } from '../matmul/matmul.ts';
import { biasBackwardKernel, biasForwardKernel, geluBackwardKernel, geluForwardKernel } from '../bias_relu/bias_relu.ts';
import { softmaxXentKernels } from '../softmax_xent/softmax_xent.ts';
import { layernormDxKernel, layernormForwardKernel, layernormParamsKernel } from '../layernorm/layernorm.ts';
import { attentionBackwardKernels, attentionForwardKernel } from '../attention/attention.ts';
import { embeddingForwardKernel, embeddingWpeKernel, embeddingWteKernel } from '../embedding/embedding.ts';
import { residualKernel } from '../residual/residual.ts';
import { adamwClippedKernels } from '../adamw/adamw.ts';
import { autotuneKernels } from '../autotune.ts';

useSwiftShaderWhenNoDriver();
const dims = process.argv[2] === 'small' ? GPT_SMALL : GPT_DEFAULT;
const B = Number(process.argv[3] ?? 8);
const ctx = await acquireDevice(createNodeGpu());
console.log(JSON.stringify((await autotuneKernels(ctx, { gpt: { dims, batch: B } })).choice));
const device = ctx.device;
const cache = new PipelineCache(device);
const reps = Number(process.env.REPS ?? 3);
const { width: C, hidden: Hd, vocab: V, heads: NH, context: T } = dims;
const R = B * T;

async function time(name: string, kernel: Kernel, times = 1) {
  const ms = (await timeKernel(cache, kernel, () => 16 << 20, reps, 64)) * times;
  console.log(`${name.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms${times > 1 ? ` (×${times})` : ''}  grid ${kernel.workgroups.join('×')}`);
  return ms;
}

const L = dims.layers;
let total = 0;
const mm = (M: number, N: number, K: number, tA = false, tB = false) => matmulKernel(cache, { M, N, K, transA: tA, transB: tB });
total += await time('embedding fwd', embeddingForwardKernel(cache, { B, T, C, V }));
total += await time('layernorm fwd', layernormForwardKernel(cache, { rows: R, C }), 2 * L + 1);
total += await time(`matmul qkv ${R}×${C}×${3 * C}`, mm(R, 3 * C, C), L);
total += await time('attention fwd', attentionForwardKernel(cache, { B, T, C, NH }), L);
total += await time(`matmul proj ${R}×${C}×${C}`, mm(R, C, C), L);
total += await time('bias fwd', biasForwardKernel(cache, { rows: R, n: C, relu: false }), 2 * L);
total += await time('residual', residualKernel(cache, R * C), 2 * L);
total += await time(`matmul fc ${R}×${C}×${Hd}`, mm(R, Hd, C), L);
total += await time('gelu fwd', geluForwardKernel(cache, { rows: R, n: Hd }), L);
total += await time(`matmul out ${R}×${Hd}×${C}`, mm(R, C, Hd), L);
total += await time(`matmul head ${R}×${C}×${V}`, mm(R, V, C));
const x = softmaxXentKernels(cache, { rows: R, classes: V });
total += await time('xent rows', x.rows);
total += await time('xent total', x.total);
total += await time(`dW head ${C}×${R}×${V} Aᵀ`, mm(C, V, R, true));
total += await time(`dx head ${R}×${V}×${C} Bᵀ`, mm(R, C, V, false, true));
total += await time('layernorm dx', layernormDxKernel(cache, { rows: R, C, accumulate: true }), 2 * L + 1);
total += await time('layernorm params', layernormParamsKernel(cache, { rows: R, C }), 2 * L + 1);
total += await time('bias grad', biasBackwardKernel(cache, { rows: R, n: C, relu: false }), 2 * L);
total += await time(`dW out ${Hd}×${R}×${C} Aᵀ`, mm(Hd, C, R, true), L);
total += await time(`dx out ${R}×${C}×${Hd} Bᵀ`, mm(R, Hd, C, false, true), L);
total += await time('gelu bwd', geluBackwardKernel(cache, { rows: R, n: Hd }), L);
total += await time(`dW fc ${C}×${R}×${Hd} Aᵀ`, mm(C, Hd, R, true), L);
total += await time(`dx fc ${R}×${Hd}×${C} Bᵀ`, mm(R, C, Hd, false, true), L);
total += await time(`dW proj ${C}×${R}×${C} Aᵀ`, mm(C, C, R, true), L);
total += await time(`dx proj ${R}×${C}×${C} Bᵀ`, mm(R, C, C, false, true), L);
const [aq, akv] = attentionBackwardKernels(cache, { B, T, C, NH });
total += await time('attention bwd q', aq, L);
total += await time('attention bwd kv', akv, L);
total += await time(`dW qkv ${C}×${R}×${3 * C} Aᵀ`, mm(C, 3 * C, R, true), L);
total += await time(`dx qkv ${R}×${3 * C}×${C} Bᵀ`, mm(R, C, 3 * C, false, true), L);
total += await time('embedding wte grad', embeddingWteKernel(cache, { B, T, C, V }));
total += await time('embedding wpe grad', embeddingWpeKernel(cache, { B, T, C, V }));
const P = 12 * L * C * C + 2 * V * C + T * C;
const [sq, ad] = adamwClippedKernels(cache, P);
total += await time(`grad sumsq ${P}`, sq);
total += await time(`adamw ${P}`, ad);
console.log(`sum ${total.toFixed(0)} ms/step`);
device.destroy();
