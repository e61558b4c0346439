// The bench's TensorFlow.js side (WebGPU backend): tf.matMul at a shape, and training steps of
// the same MLP and GPT shapes our trainers run, each written from TFJS ops the way a TFJS user
// would (autodiff through optimizer.minimize, Adam plus decoupled weight decay = AdamW).
// Data stays on the GPU: the dataset / token windows are uploaded once per round; a round ends
// with one readback (its last loss), as our trainers read back once per round.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops'; // x.matMul(…) style, as @tensorflow/tfjs has
import '@tensorflow/tfjs-core/dist/register_all_gradients'; // autodiff, as @tensorflow/tfjs has
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { MatmulShape } from '../matmul/matmul.ts';

export async function tfjsReady(): Promise<GPUAdapterInfo | undefined> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not start its WebGPU backend');
  await tf.ready();
  return (tf.backend() as WebGPUBackend).adapterInfo as unknown as GPUAdapterInfo | undefined;
}

/**
 * `run(n)` issues n tf.matMul calls on GPU-resident operands and resolves when the GPU is done:
 * it reads back one element of the last product (a 1×1 slice; the queue runs in order). Waiting
 * on queue.onSubmittedWorkDone after the backend's submitQueue() resolved before the work ran.
 */
export function tfjsMatmul(s: MatmulShape): { run: (n: number) => Promise<void>; dispose: () => void } {
  const a = tf.randomNormal(s.transA ? [s.K, s.M] : [s.M, s.K]);
  const b = tf.randomNormal(s.transB ? [s.N, s.K] : [s.K, s.N]);
  return {
    async run(n) {
      let last: tf.Tensor | null = null;
      for (let i = 0; i < n; i++) {
        last?.dispose();
        last = tf.matMul(a, b, s.transA, s.transB);
      }
      const corner = last!.slice([0, 0], [1, 1]);
      await corner.data();
      tf.dispose([last!, corner]);
    },
    dispose: () => tf.dispose([a, b]),
  };
}

export interface TfjsTrainer {
  /** Trains `steps` steps and resolves after reading back the last loss. */
  round(steps: number): Promise<number>;
  dispose(): void;
}

const ADAMW = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

function adamwStep(opt: tf.Optimizer, vars: tf.Variable[], loss: () => tf.Scalar): tf.Scalar {
  return tf.tidy(() => {
    const l = opt.minimize(loss, true, vars)!;
    for (const v of vars) if (v.rank > 1) v.assign(v.mul(1 - ADAMW.lr * ADAMW.weightDecay));
    return l;
  });
}

const glorot = (shape: number[]) => tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / (shape[0] + shape[shape.length - 1]))));

/** The MLP (sizes e.g. 784-64-10, ReLU, softmax cross-entropy) on a random u8 dataset of `count` samples. */
export function tfjsMlp(sizes: number[], batch: number, count = 8500): TfjsTrainer {
  const [F, C] = [sizes[0], sizes[sizes.length - 1]];
  const images = tf.tidy(() => tf.randomUniform([count, F], 0, 256, 'int32').cast('float32').div(255));
  const labels = tf.randomUniform([count], 0, C, 'int32');
  const vars = sizes.slice(1).flatMap((out, l) => [glorot([sizes[l], out]), tf.variable(tf.zeros([out]))]);
  const opt = tf.train.adam(ADAMW.lr, ADAMW.beta1, ADAMW.beta2, ADAMW.eps);
  return {
    async round(steps) {
      const idx = tf.randomUniform([steps * batch], 0, count, 'int32');
      let last: tf.Scalar | null = null;
      for (let s = 0; s < steps; s++) {
        last?.dispose();
        last = adamwStep(opt, vars, () => {
          const take = idx.slice([s * batch], [batch]);
          let h = tf.gather(images, take) as tf.Tensor2D;
          for (let l = 0; l < vars.length / 2; l++) {
            h = h.matMul(vars[2 * l] as tf.Tensor2D).add(vars[2 * l + 1]);
            if (2 * l + 2 < vars.length) h = h.relu();
          }
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.gather(labels, take), C), h) as tf.Scalar;
        });
      }
      const loss = (await last!.data())[0];
      tf.dispose([idx, last!]);
      return loss;
    },
    dispose() {
      tf.dispose([images, labels, ...vars]);
      opt.dispose();
    },
  };
}

export interface GptShape {
  layers: number;
  width: number;
  heads: number;
  context: number;
  hidden: number;
  vocab: number;
}

/** A GPT-2-style decoder (pre-LN, GELU MLP, causal attention, untied head) on random byte windows. */
export function tfjsGpt(g: GptShape, batch: number, corpus = 1 << 16): TfjsTrainer {
  const { layers, width: C, heads: H, context: T, hidden, vocab: V } = g;
  const hd = C / H;
  const text = tf.randomUniform([corpus], 0, V, 'int32');
  const v = (shape: number[]) => glorot(shape);
  const ones = (n: number) => tf.variable(tf.ones([n]));
  const zeros = (n: number) => tf.variable(tf.zeros([n]));
  const wte = v([V, C]),
    wpe = v([T, C]);
  const blocks = Array.from({ length: layers }, () => ({
    ln1g: ones(C),
    ln1b: zeros(C),
    wqkv: v([C, 3 * C]),
    bqkv: zeros(3 * C),
    wproj: v([C, C]),
    bproj: zeros(C),
    ln2g: ones(C),
    ln2b: zeros(C),
    wfc: v([C, hidden]),
    bfc: zeros(hidden),
    wout: v([hidden, C]),
    bout: zeros(C),
  }));
  const lnfg = ones(C),
    lnfb = zeros(C),
    wlm = v([C, V]);
  const vars = [wte, wpe, ...blocks.flatMap((b) => Object.values(b)), lnfg, lnfb, wlm];
  const mask = tf.linalg
    .bandPart(tf.ones([T, T]), -1, 0)
    .sub(1)
    .mul(1e9); // 0 on and below the diagonal, -1e9 above
  const opt = tf.train.adam(ADAMW.lr, ADAMW.beta1, ADAMW.beta2, ADAMW.eps);
  const ln = (x: tf.Tensor2D, gain: tf.Tensor, bias: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(variance.add(1e-5).rsqrt()).mul(gain).add(bias) as tf.Tensor2D;
  };
  const gelu = (x: tf.Tensor) => x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1));
  const forwardLoss = (tokens: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar => {
    let x = tf.gather(wte, tokens.flatten()).add(tf.tile(wpe, [batch, 1])) as tf.Tensor2D; // (B·T, C)
    for (const b of blocks) {
      const qkv = ln(x, b.ln1g, b.ln1b).matMul(b.wqkv).add(b.bqkv).reshape([batch, T, 3, H, hd]).transpose([2, 0, 3, 1, 4]);
      const [q, k, vv] = tf.unstack(qkv) as tf.Tensor4D[]; // (B, H, T, hd)
      const att = tf.softmax(
        tf
          .matMul(q, k, false, true)
          .mul(1 / Math.sqrt(hd))
          .add(mask),
      );
      const y = tf
        .matMul(att, vv)
        .transpose([0, 2, 1, 3])
        .reshape([batch * T, C]) as tf.Tensor2D;
      x = x.add(y.matMul(b.wproj).add(b.bproj));
      x = x.add(
        gelu(ln(x, b.ln2g, b.ln2b).matMul(b.wfc).add(b.bfc))
          .matMul(b.wout)
          .add(b.bout),
      );
    }
    const logits = ln(x, lnfg, lnfb).matMul(wlm);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(targets.flatten(), V), logits) as tf.Scalar;
  };
  return {
    async round(steps) {
      // Every step's windows: (steps·B, T+1) token ids gathered on the GPU from random offsets.
      const starts = tf.randomUniform([steps * batch, 1], 0, corpus - T - 1, 'int32');
      const windows = tf.tidy(() => tf.gather(text, starts.add(tf.range(0, T + 1, 1, 'int32').expandDims(0))));
      let last: tf.Scalar | null = null;
      for (let s = 0; s < steps; s++) {
        last?.dispose();
        last = adamwStep(opt, vars, () => {
          const w = windows.slice([s * batch, 0], [batch, T + 1]) as tf.Tensor2D;
          return forwardLoss(w.slice([0, 0], [batch, T]), w.slice([0, 1], [batch, T]));
        });
      }
      const loss = (await last!.data())[0];
      tf.dispose([starts, windows, last!]);
      return loss;
    },
    dispose() {
      tf.dispose([text, mask, ...vars]);
      opt.dispose();
    },
  };
}
