// The GPU executor for one round of local training of an MLP (shared/model.ts MlpSpec):
// `steps` inner steps of gather → forward → softmax cross-entropy → backward → AdamW, all
// encoded up front and submitted at once (or, when the caller wants to be able to stop
// within a bound, in segments of about `segmentMs` of GPU work, see TrainArgs.segmentMs). Matches shared/mlp.ts trainLocalCpu within fp32
// summation-order tolerance.
//
// Host ↔ GPU traffic per round, and why:
//   up    params (once), the round's sample indices and per-step AdamW uniforms (once);
//         the dataset once per setData(), not per round.
//   down  once, after the last step: the final params and the per-step losses. Nothing is read
//         back between steps: a map round trip stalls the queue and, at these sizes, costs more
//         than a step. The round's results (Δ = θ_r − θ_local, loss before/after) need only
//         the final params and the losses, which the steps leave in GPU buffers.
//
// On the device, every tensor of the flat parameter table starts at a multiple of
// minStorageBufferOffsetAlignment so that each can be bound on its own; params, grad, m and v
// share that padded layout (padding stays zero: zero grad, zero state, zero update).
import { refusePrime, type AdamWConfig, type AdamWState, type Dataset } from '../shared/mlp.ts';
import type { MlpSpec, ModelSpec } from '../shared/model.ts';
import { adamwKernel, ADAMW_HYPER, ADAMW_VALUES_PER_INVOCATION, writeAdamWHyper, type AdamWKernel } from './adamw/adamw.ts';
import { biasBackwardKernel, biasForwardKernel, type BiasForwardKernel, type BiasGradKernel, type ReluBiasGradKernel } from './bias_relu/bias_relu.ts';
import { withErrorScope } from './device.ts';
import { DeviceLostError, KernelError } from './errors.ts';
import { gatherKernel, validateDataset, validateIndices, type GatherKernel } from './gather_batch/gather_batch.ts';
import { alignTo, createBindGroup, encodeDispatch, readBuffer, writePadded } from './kernel.ts';
import { matmulKernel, type MatmulKernel } from './matmul/matmul.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { runSegmentedRound } from './segments.ts';
import { softmaxXentKernels, XENT_LOSS_BYTES } from './softmax_xent/softmax_xent.ts';

export interface MlpTrainerOptions {
  /** Samples per inner step (B). */
  batchSize: number;
  /** Share pipelines with other users of the device (default: a private cache). */
  cache?: PipelineCache;
}

export interface TrainArgs {
  /** θ_r in the flat layout of spec (paramCount floats). Not modified. */
  params: Float32Array;
  /** steps × batchSize sample indices into the dataset of setData(), step-major. */
  batches: Uint32Array;
  steps: number;
  adamw: AdamWConfig;
  /**
   * Submit the round in segments of about this many ms of GPU work (default: the whole round in
   * one submission). Between segments the queue drains and `signal` is checked, so an abort
   * stops GPU work within one segment. Results do not depend on the segmentation: params, grad
   * and the AdamW state m, v stay on the GPU and every step keeps its global step counter.
   */
  segmentMs?: number;
  /** Aborting rejects train() with TrainingAbortedError once the segment in flight finished. */
  signal?: AbortSignal;
  /**
   * The AdamW state to go on from (run setting inner.state 'kept'): m and v (paramCount floats each)
   * are uploaded instead of cleared and the steps count on from t; the state at the end comes back
   * in TrainResult.state (read back once, with the params). Absent: zero moments, t = 0, none read back.
   */
  state?: AdamWState;
  /**
   * Awaited after each segment but the last, once the queue drained: the caller's place to
   * throttle (sleep for a duty cycle) or pause. `busyMs` is that segment's submit-to-drained time.
   */
  between?: (segment: { stepsDone: number; busyMs: number }) => Promise<void> | void;
}

export interface TrainResult {
  /** θ after the last step, flat layout. */
  params: Float32Array;
  /** Loss of step 0's batch before its update. */
  lossBefore: number;
  /** Loss of the last step's batch (before that step's update), as trainLocalCpu. */
  lossAfter: number;
  /** Batch loss of every step (steps). */
  losses: Float32Array;
  steps: number;
  samples: number;
  /** Wall time from submit to the end of the readback, ms. */
  gpuMs: number;
  /** Sum over segments of submit-to-drained time, ms: the time the queue was busy with this round. */
  busyMs: number;
  /** The AdamW state after the last step, when TrainArgs.state was given. */
  state?: AdamWState;
}

export interface MlpTrainer {
  readonly spec: MlpSpec;
  readonly batchSize: number;
  /** Settles when every pipeline compiled; rejects with ShaderCompileError. train() awaits it. */
  readonly ready: Promise<void>;
  /** Bytes of the buffers held between rounds (θ, gradient, AdamW state, activations; not the training set): shared/device-needs.ts computes the same. */
  readonly residentBytes: number;
  /** Uploads the training set once (bytes, unpacked on the GPU); replaces any previous one. */
  setData(data: Dataset): void;
  /** One round of local training from `params`, AdamW state reset to zero (or going on from TrainArgs.state). */
  train(args: TrainArgs): Promise<TrainResult>;
  /** Logits (B, classes) for x (B, features). */
  forward(params: Float32Array, x: Float32Array, B: number): Promise<Float32Array>;
  destroy(): void;
}

/** Where each tensor of the flat table lives in the padded device buffers, in floats. */
export interface DeviceParamLayout {
  offsets: number[];
  totalFloats: number;
}

export function deviceParamLayout(spec: Pick<ModelSpec, 'tensors'>, alignFloats: number): DeviceParamLayout {
  let at = 0;
  const offsets = spec.tensors.map((t) => {
    const o = alignTo(at, alignFloats);
    at = o + t.size;
    return o;
  });
  return { offsets, totalFloats: alignTo(at, alignFloats) };
}

function packParams(spec: MlpSpec, layout: DeviceParamLayout, flat: Float32Array): Float32Array {
  const out = new Float32Array(layout.totalFloats);
  spec.tensors.forEach((t, i) => out.set(flat.subarray(t.offset, t.offset + t.size), layout.offsets[i]));
  return out;
}

function unpackParams(spec: MlpSpec, layout: DeviceParamLayout, padded: Float32Array): Float32Array {
  const out = new Float32Array(spec.paramCount);
  spec.tensors.forEach((t, i) => out.set(padded.subarray(layout.offsets[i], layout.offsets[i] + t.size), t.offset));
  return out;
}

/** Kernels and buffers of the forward pass for one batch size. */
interface ForwardPlan {
  B: number;
  matmul: MatmulKernel[];
  bias: BiasForwardKernel[];
}

function forwardPlan(cache: PipelineCache, spec: MlpSpec, B: number): ForwardPlan {
  const L = spec.sizes.length - 1;
  const matmul: MatmulKernel[] = [];
  const bias: BiasForwardKernel[] = [];
  for (let l = 0; l < L; l++) {
    const [fin, fout] = [spec.sizes[l], spec.sizes[l + 1]];
    matmul.push(matmulKernel(cache, { M: B, N: fout, K: fin })); // z (B, fout) = h (B, fin) · W (fin, fout)
    bias.push(biasForwardKernel(cache, { rows: B, n: fout, relu: l + 1 < L }));
  }
  return { B, matmul, bias };
}

export function createMlpTrainer(device: GPUDevice, spec: MlpSpec, opts: MlpTrainerOptions): MlpTrainer {
  const B = opts.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`createMlpTrainer: batchSize must be a positive integer, got ${B}`);
  const cache = opts.cache ?? new PipelineCache(device);
  // (Not at module scope: in Node the GPU* globals exist only once createNodeGpu() ran.)
  const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const sizes = spec.sizes;
  const L = sizes.length - 1;
  const [F, C] = [sizes[0], sizes[L]];
  const limits = device.limits;
  const storageAlign = limits.minStorageBufferOffsetAlignment;
  // Tensors start on binding-offset boundaries; the total is also a whole number of AdamW vec4s.
  const layout = deviceParamLayout(spec, Math.max(storageAlign / 4, ADAMW_VALUES_PER_INVOCATION));
  const W = (l: number) => ({ offset: layout.offsets[2 * l] * 4, size: spec.tensors[2 * l].size * 4 });
  const b = (l: number) => ({ offset: layout.offsets[2 * l + 1] * 4, size: spec.tensors[2 * l + 1].size * 4 });

  let lost: GPUDeviceLostInfo | null = null;
  void device.lost.then((info) => (lost = info));
  let destroyed = false;
  let busy = false;

  // ---- kernels: every pipeline of a round, created here and never per step ----
  const fwd = forwardPlan(cache, spec, B);
  const gather: GatherKernel = gatherKernel(cache, { rows: B, features: F });
  const xent = softmaxXentKernels(cache, { rows: B, classes: C });
  const outBiasGrad: BiasGradKernel = biasBackwardKernel(cache, { rows: B, n: C, relu: false });
  const dW: MatmulKernel[] = [];
  const dh: (MatmulKernel | null)[] = [];
  const reluGrad: (ReluBiasGradKernel | null)[] = [];
  for (let l = 0; l < L; l++) {
    const [fin, fout] = [sizes[l], sizes[l + 1]];
    dW.push(matmulKernel(cache, { M: fin, N: fout, K: B, transA: true })); // dW (fin, fout) = hᵀ · dz
    dh.push(l > 0 ? matmulKernel(cache, { M: B, N: fin, K: fout, transB: true }) : null); // dh (B, fin) = dz · Wᵀ
    reluGrad.push(l > 0 ? biasBackwardKernel(cache, { rows: B, n: fin, relu: true }) : null);
  }
  const adamw: AdamWKernel = adamwKernel(cache, layout.totalFloats);
  const ready = cache.ready();
  ready.catch(() => {}); // surfaced by train()/forward(); not an unhandled rejection meanwhile

  // ---- buffers ----
  const owned: GPUBuffer[] = [];
  const buffer = (label: string, size: number, usage = STORAGE) => {
    const buf = device.createBuffer({ label: `mlp.${label}`, size: alignTo(Math.max(size, 4), 4), usage });
    owned.push(buf);
    return buf;
  };
  const params = buffer('params', layout.totalFloats * 4);
  const grad = buffer('grad', layout.totalFloats * 4);
  const m = buffer('adam.m', layout.totalFloats * 4);
  const v = buffer('adam.v', layout.totalFloats * 4);
  const acts = sizes.map((n, l) => buffer(`act${l}`, B * n * 4)); // acts[0] = x (B, F), acts[L] = logits (B, C)
  const dActs = sizes.map((n, l) => (l > 0 ? buffer(`dact${l}`, B * n * 4) : null)); // gradient w.r.t. acts[l]
  const labels = buffer('labels', B * 4);
  const rowLoss = buffer('xent.rowLoss', B * 4);

  // Per-step slices at dynamic offsets, sized for the longest round so far.
  const indexStride = alignTo(B * 4, storageAlign);
  const lossStride = alignTo(XENT_LOSS_BYTES, storageAlign);
  const hyperStride = alignTo(ADAMW_HYPER.size, limits.minUniformBufferOffsetAlignment);
  let capacity = 0;
  let indices: GPUBuffer | null = null;
  let losses: GPUBuffer | null = null;
  let hyper: GPUBuffer | null = null;
  let data: { images: GPUBuffer; labels: GPUBuffer; count: number } | null = null;

  // ---- bind groups that never change ----
  const groups = {
    fwd: fwdGroups(fwd, params, acts),
    outBiasGrad: createBindGroup(device, outBiasGrad, { dy: dActs[L]!, dbias: { buffer: grad, ...b(L - 1) } }),
    dW: dW.map((k, l) => createBindGroup(device, k, { a: acts[l], b: dActs[l + 1]!, c: { buffer: grad, ...W(l) } })),
    dh: dh.map((k, l) => k && createBindGroup(device, k, { a: dActs[l + 1]!, b: { buffer: params, ...W(l) }, c: dActs[l]! })),
    reluGrad: reluGrad.map((k, l) => k && createBindGroup(device, k, { dy: dActs[l]!, y: acts[l], dbias: { buffer: grad, ...b(l - 1) } })),
    gather: null as GPUBindGroup | null,
    xentRows: createBindGroup(device, xent.rows, { logits: acts[L], labels, dlogits: dActs[L]!, rowLoss }),
    xentTotal: null as GPUBindGroup | null,
    adamw: null as GPUBindGroup | null,
  };

  function fwdGroups(plan: ForwardPlan, p: GPUBuffer, h: GPUBuffer[]) {
    return {
      matmul: plan.matmul.map((k, l) => createBindGroup(device, k, { a: h[l], b: { buffer: p, ...W(l) }, c: h[l + 1] })),
      bias: plan.bias.map((k, l) => createBindGroup(device, k, { x: h[l + 1], bias: { buffer: p, ...b(l) } })),
    };
  }

  function encodeForward(pass: GPUComputePassEncoder, plan: ForwardPlan, g: ReturnType<typeof fwdGroups>) {
    for (let l = 0; l < L; l++) {
      encodeDispatch(pass, plan.matmul[l], g.matmul[l]);
      encodeDispatch(pass, plan.bias[l], g.bias[l]);
    }
  }

  function ensureCapacity(steps: number) {
    if (steps <= capacity) return;
    for (const old of [indices, losses, hyper]) if (old) old.destroy();
    capacity = Math.max(steps, 2 * capacity);
    indices = device.createBuffer({ label: 'mlp.indices', size: capacity * indexStride, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    losses = device.createBuffer({ label: 'mlp.losses', size: capacity * lossStride, usage: STORAGE });
    hyper = device.createBuffer({ label: 'mlp.hyper', size: capacity * hyperStride, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    groups.xentTotal = createBindGroup(device, xent.total, { rowLoss, loss: { buffer: losses, size: XENT_LOSS_BYTES } });
    groups.adamw = createBindGroup(device, adamw, { params, grad, m, v, hyper: { buffer: hyper, size: ADAMW_HYPER.size } });
    bindGather();
  }

  function bindGather() {
    groups.gather =
      data && indices
        ? createBindGroup(device, gather, {
            images: data.images,
            labels: data.labels,
            indices: { buffer: indices, size: B * 4 },
            x: acts[0],
            y: labels,
          })
        : null;
  }

  function assertUsable(what: string) {
    if (destroyed) throw new KernelError(`MlpTrainer.${what}: the trainer was destroyed.`);
    if (lost) {
      throw new DeviceLostError('The GPU device was lost; training cannot continue on it.', {
        details: `reason: ${lost.reason}; ${lost.message}`,
      });
    }
  }

  /** A rejected map after loss of the device is reported as the loss, not as a map failure. */
  function lostOr(err: unknown): unknown {
    return lost ? new DeviceLostError('The GPU device was lost during training.', { details: lost.message, cause: err }) : err;
  }

  return {
    spec,
    batchSize: B,
    ready,
    residentBytes: owned.reduce((sum, b) => sum + b.size, 0),

    setData(d: Dataset) {
      assertUsable('setData');
      if (busy) throw new KernelError('MlpTrainer.setData: a round is running; call setData() between rounds.');
      if (d.features !== F) throw new RangeError(`setData: dataset has ${d.features} features, the model takes ${F}`);
      if (d.classes !== C) throw new RangeError(`setData: dataset has ${d.classes} classes, the model outputs ${C}`);
      validateDataset(d);
      if (d.images.byteLength > limits.maxStorageBufferBindingSize) {
        throw new KernelError(`The training shard (${d.images.byteLength} bytes) exceeds this GPU's storage binding limit.`, {
          details: `maxStorageBufferBindingSize = ${limits.maxStorageBufferBindingSize}`,
        });
      }
      if (data) {
        data.images.destroy();
        data.labels.destroy();
      }
      const images = device.createBuffer({
        label: 'mlp.data.images',
        size: alignTo(d.images.byteLength, 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      const lab = device.createBuffer({
        label: 'mlp.data.labels',
        size: alignTo(d.labels.byteLength, 4),
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      });
      writePadded(device, images, 0, d.images);
      writePadded(device, lab, 0, d.labels);
      data = { images, labels: lab, count: d.count };
      bindGather();
    },

    async train({ params: start, batches, steps, adamw: cfg, segmentMs, signal, between, state }: TrainArgs): Promise<TrainResult> {
      assertUsable('train');
      if (busy) throw new KernelError('MlpTrainer.train: a round is already running on this trainer.');
      if (!data) throw new KernelError('MlpTrainer.train: no dataset; call setData() first.');
      if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`train: steps must be a positive integer, got ${steps}`);
      if (start.length !== spec.paramCount) throw new RangeError(`train: params has ${start.length} floats, the model ${spec.paramCount}`);
      if (batches.length !== steps * B) throw new RangeError(`train: batches has ${batches.length} indices, expected steps ${steps} × batch ${B}`);
      refusePrime(cfg, 'MlpTrainer.train');
      if (state && (state.m.length !== spec.paramCount || state.v.length !== spec.paramCount || !Number.isInteger(state.t) || state.t < 0))
        throw new RangeError(
          `train: the AdamW state holds ${state.m.length} and ${state.v.length} moments at t = ${state.t}; the model has ${spec.paramCount} parameters`,
        );
      const t0 = state?.t ?? 0;
      validateIndices(batches, data.count);
      if (segmentMs !== undefined && !(segmentMs > 0)) throw new RangeError(`train: segmentMs must be positive, got ${segmentMs}`);
      busy = true;
      try {
        await ready;
        ensureCapacity(steps);
        const idx = new Uint32Array((steps * indexStride) / 4);
        for (let s = 0; s < steps; s++) idx.set(batches.subarray(s * B, (s + 1) * B), (s * indexStride) / 4);
        const hyperBytes = new ArrayBuffer(steps * hyperStride);
        const view = new DataView(hyperBytes);
        for (let s = 0; s < steps; s++) writeAdamWHyper(view, s * hyperStride, t0 + s + 1, cfg);

        const paramsOut = device.createBuffer({
          label: 'mlp.readback.params',
          size: layout.totalFloats * 4,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        });
        const lossesOut = device.createBuffer({
          label: 'mlp.readback.losses',
          size: steps * lossStride,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        });
        const stateOut = state
          ? ['m', 'v'].map((n) =>
              device.createBuffer({ label: `mlp.readback.adam.${n}`, size: layout.totalFloats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
            )
          : [];
        try {
          const encodeSteps = (enc: GPUCommandEncoder, from: number, to: number) => {
            for (let s = from; s < to; s++) {
              const pass = enc.beginComputePass({ label: `mlp.step${s}` });
              encodeDispatch(pass, gather, groups.gather!, [s * indexStride]);
              encodeForward(pass, fwd, groups.fwd);
              encodeDispatch(pass, xent.rows, groups.xentRows);
              encodeDispatch(pass, xent.total, groups.xentTotal!, [s * lossStride]);
              encodeDispatch(pass, outBiasGrad, groups.outBiasGrad);
              for (let l = L - 1; l >= 0; l--) {
                encodeDispatch(pass, dW[l], groups.dW[l]);
                if (l > 0) {
                  encodeDispatch(pass, dh[l]!, groups.dh[l]!);
                  encodeDispatch(pass, reluGrad[l]!, groups.reluGrad[l]!);
                }
              }
              encodeDispatch(pass, adamw, groups.adamw!, [s * hyperStride]);
              pass.end();
            }
          };
          const { gpuMs, busyMs } = await runSegmentedRound({
            device,
            steps,
            segmentMs,
            signal,
            between,
            label: 'mlp',
            encodeSteps,
            lostOr,
            isLost: () => lost !== null,
            begin: (enc) => {
              writePadded(device, params, 0, packParams(spec, layout, start));
              writePadded(device, indices!, 0, idx);
              device.queue.writeBuffer(hyper!, 0, hyperBytes);
              if (state) {
                writePadded(device, m, 0, packParams(spec, layout, state.m));
                writePadded(device, v, 0, packParams(spec, layout, state.v));
              } else {
                enc.clearBuffer(m); // AdamW state restarts every round
                enc.clearBuffer(v);
              }
            },
            readback: [
              [params, paramsOut],
              [losses!, lossesOut],
              ...(state
                ? ([
                    [m, stateOut[0]],
                    [v, stateOut[1]],
                  ] as [GPUBuffer, GPUBuffer][])
                : []),
            ],
          });
          const result = unpackParams(spec, layout, new Float32Array(paramsOut.getMappedRange()));
          const strided = new Float32Array(lossesOut.getMappedRange());
          const stepLosses = Float32Array.from({ length: steps }, (_, s) => strided[(s * lossStride) / 4]);
          const after = state && {
            m: unpackParams(spec, layout, new Float32Array(stateOut[0].getMappedRange())),
            v: unpackParams(spec, layout, new Float32Array(stateOut[1].getMappedRange())),
            t: t0 + steps,
          };
          paramsOut.unmap();
          lossesOut.unmap();
          for (const b of stateOut) b.unmap();
          return {
            ...(after ? { state: after } : {}),
            params: result,
            lossBefore: stepLosses[0],
            lossAfter: stepLosses[steps - 1],
            losses: stepLosses,
            steps,
            samples: steps * B,
            gpuMs,
            busyMs,
          };
        } finally {
          paramsOut.destroy();
          lossesOut.destroy();
          for (const b of stateOut) b.destroy();
        }
      } finally {
        busy = false;
      }
    },

    async forward(p: Float32Array, x: Float32Array, rows: number): Promise<Float32Array> {
      assertUsable('forward');
      if (p.length !== spec.paramCount) throw new RangeError(`forward: params has ${p.length} floats, the model ${spec.paramCount}`);
      if (!Number.isInteger(rows) || rows < 1 || x.length !== rows * F) throw new RangeError(`forward: x must be (${rows}, ${F})`);
      const plan = rows === B ? fwd : forwardPlan(cache, spec, rows);
      await cache.ready();
      const temp: GPUBuffer[] = [];
      const tmp = (label: string, size: number) => {
        const buf = device.createBuffer({ label: `mlp.forward.${label}`, size, usage: STORAGE });
        temp.push(buf);
        return buf;
      };
      try {
        const pBuf = tmp('params', layout.totalFloats * 4);
        const h = sizes.map((n, l) => tmp(`act${l}`, rows * n * 4));
        await withErrorScope(device, 'encoding a forward pass', () => {
          writePadded(device, pBuf, 0, packParams(spec, layout, p));
          writePadded(device, h[0], 0, x);
          const enc = device.createCommandEncoder({ label: 'mlp.forward' });
          const pass = enc.beginComputePass({ label: 'mlp.forward' });
          encodeForward(pass, plan, fwdGroups(plan, pBuf, h));
          pass.end();
          device.queue.submit([enc.finish()]);
        });
        const logits = await readBuffer(device, h[L]).catch((err: unknown) => {
          throw lostOr(err);
        });
        return new Float32Array(logits);
      } finally {
        for (const buf of temp) buf.destroy();
      }
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const buf of [...owned, indices, losses, hyper, data?.images, data?.labels]) buf?.destroy();
    },
  };
}
