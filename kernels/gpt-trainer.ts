// The GPU executor for local training of the GPT preset (shared/model.ts gptSpec): `steps`
// inner steps of embedding → L × (layernorm → qkv → fused causal attention → proj → residual →
// layernorm → fc + GELU → out → residual) → layernorm → head → softmax cross-entropy →
// the whole backward → Σ g² → clipped AdamW, all encoded up front and submitted at once (or,
// to stop or throttle within a bound, in segments of about `segmentMs` of GPU work).
// Matches shared/gpt.ts trainGptLocalCpu within fp32 summation-order tolerance.
//
// Host ↔ GPU traffic per train() call, and why:
//   up    params (once), every step's tokens and targets (once, (steps, B, T) u32 each; each
//         step copies its slice into the batch buffers on the GPU) with the tokens' counting-sort
//         index for the embedding gradient (embedding.ts tokenIndex), the per-step AdamW uniforms.
//   down  once, after the last step: the final params and the per-step losses. Nothing is read
//         between steps: the global gradient norm for clipping is reduced and consumed on the
//         GPU (adamw grad_sumsq → clipped), the loss of step s lands in slot s of a buffer.
//
// Every pipeline and bind group is created in createGptTrainer; train() creates only the
// per-round upload/readback buffers (and, when a longer round than ever before arrives, the
// per-step slot buffers). Device layout of the parameters as kernels/mlp-trainer.ts: every
// tensor at a storage-offset boundary, so each binds on its own; padding stays zero.
//
// Every gradient slice is written (not accumulated) by exactly one dispatch per step, so the
// grad buffer needs no clearing between steps; the residual stream's gradient accumulates in
// one buffer (layernorm backward_dx in ACCUMULATE form adds the branch's input gradient).
import { refusePrime, type AdamWConfig } from '../shared/mlp.ts';
import type { GptSpec } from '../shared/model.ts';
import { adamwClippedKernels, ADAMW_HYPER, ADAMW_VALUES_PER_INVOCATION, GRAD_SUMSQ_BYTES, writeAdamWHyper } from './adamw/adamw.ts';
import { attentionBackwardKernels, attentionForwardKernel } from './attention/attention.ts';
import { biasBackwardKernel, biasForwardKernel, geluBackwardKernel, geluForwardKernel } from './bias_relu/bias_relu.ts';
import { withErrorScope } from './device.ts';
import { embeddingForwardKernel, embeddingWpeKernel, embeddingWteKernel, tokenIndex } from './embedding/embedding.ts';
import { DeviceLostError, KernelError } from './errors.ts';
import { alignTo, createBindGroup, encodeDispatch, type Kernel, type KernelResources } from './kernel.ts';
import { layernormDxKernel, layernormForwardKernel, layernormParamsKernel, LAYERNORM_STATS_BYTES } from './layernorm/layernorm.ts';
import { deviceParamLayout } from './mlp-trainer.ts';
import { matmulKernel } from './matmul/matmul.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { residualKernel } from './residual/residual.ts';
import { runSegmentedRound } from './segments.ts';
import { softmaxXentKernels, XENT_LOSS_BYTES } from './softmax_xent/softmax_xent.ts';

export interface GptTrainerOptions {
  /** Sequences per inner step (B). */
  batchSize: number;
  /** Positions per sequence (T ≤ spec.dims.context; default the context). */
  seqLen?: number;
  /** Share pipelines with other users of the device (default: a private cache). */
  cache?: PipelineCache;
}

export interface GptTrainArgs {
  /** θ_r in the flat layout of spec. Not modified. */
  params: Float32Array;
  /** Input tokens, (steps, B, T), step-major. */
  tokens: Uint32Array;
  /** Next-token targets, (steps, B, T). */
  targets: Uint32Array;
  steps: number;
  /** AdamW from zero state each call; maxGradNorm clips by global norm (reduced on the GPU). */
  adamw: AdamWConfig;
  /**
   * Submit in segments of about this many ms of GPU work (default: all steps in one submission),
   * as kernels/mlp-trainer.ts TrainArgs.segmentMs: between segments the queue drains, `signal`
   * is checked and `between` awaited. Results do not depend on the segmentation.
   */
  segmentMs?: number;
  /** Aborting rejects train() with TrainingAbortedError once the segment in flight finished. */
  signal?: AbortSignal;
  between?: (segment: { stepsDone: number; busyMs: number }) => Promise<void> | void;
}

export interface GptTrainResult {
  /** θ after the last step, flat layout. */
  params: Float32Array;
  /** Mean next-token loss of every step's batch, before that step's update (steps). */
  losses: Float32Array;
  steps: number;
  /** Sequences trained on (steps × B). */
  samples: number;
  /** Wall time from the first submit to the end of the readback, ms. */
  gpuMs: number;
  /** Sum over segments of submit-to-drained time, ms. */
  busyMs: number;
}

export interface GptTrainer {
  readonly spec: GptSpec;
  readonly batchSize: number;
  readonly seqLen: number;
  /** Settles when every pipeline compiled; rejects with ShaderCompileError. train() awaits it. */
  readonly ready: Promise<void>;
  /** Bytes of the buffers held between rounds (θ, gradient, AdamW state, activations): shared/device-needs.ts computes the same. */
  readonly residentBytes: number;
  /** One round of `steps` inner steps from `params`; one readback at the end. */
  train(args: GptTrainArgs): Promise<GptTrainResult>;
  /**
   * The forward pass alone on one (B, T) batch of tokens: logits (B, T, vocab), row-major. Runs
   * only the forward dispatch list (the same as a training step's) and reads back the logits.
   */
  forwardLogits(params: Float32Array, tokens: Uint32Array): Promise<Float32Array>;
  destroy(): void;
}

export function createGptTrainer(device: GPUDevice, spec: GptSpec, opts: GptTrainerOptions): GptTrainer {
  const B = opts.batchSize;
  const T = opts.seqLen ?? spec.dims.context;
  const { vocab: V, width: C, heads: NH, hidden: Hd, layers: L } = spec.dims;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`createGptTrainer: batchSize must be a positive integer, got ${B}`);
  if (!Number.isInteger(T) || T < 1 || T > spec.dims.context) throw new RangeError(`createGptTrainer: seqLen must be in 1 … ${spec.dims.context}, got ${T}`);
  const cache = opts.cache ?? new PipelineCache(device);
  const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const R = B * T;
  const limits = device.limits;
  const storageAlign = limits.minStorageBufferOffsetAlignment;
  const layout = deviceParamLayout(spec, Math.max(storageAlign / 4, ADAMW_VALUES_PER_INVOCATION));
  const index = new Map(spec.tensors.map((t, i) => [t.name, i]));

  let lost: GPUDeviceLostInfo | null = null;
  void device.lost.then((info) => (lost = info));
  let destroyed = false;
  let busy = false;

  // ---- buffers ----
  const owned: GPUBuffer[] = [];
  const buffer = (label: string, floats: number, usage = STORAGE) => {
    const buf = device.createBuffer({ label: `gpt.${label}`, size: alignTo(Math.max(floats * 4, 4), 4), usage });
    owned.push(buf);
    return buf;
  };
  const params = buffer('params', layout.totalFloats);
  const grad = buffer('grad', layout.totalFloats);
  const m = buffer('adam.m', layout.totalFloats);
  const v = buffer('adam.v', layout.totalFloats);
  const sumsq = buffer('grad.sumsq', GRAD_SUMSQ_BYTES / 4);
  const slice = (buf: GPUBuffer, name: string): GPUBufferBinding => {
    const i = index.get(name);
    if (i === undefined) throw new Error(`GPT spec has no tensor ${name}`);
    return { buffer: buf, offset: layout.offsets[i] * 4, size: spec.tensors[i].size * 4 };
  };
  const P = (name: string) => slice(params, name);
  const G = (name: string) => slice(grad, name);

  const tokens = buffer('tokens', R);
  const targets = buffer('targets', R);
  // The step's tokens by value (embedding.ts tokenIndex), for the wte gradient.
  const order = buffer('tokens.order', R);
  const starts = buffer('tokens.starts', V + 1);
  const x0 = buffer('x0', R * C);
  const layerActs = Array.from({ length: L }, (_, l) => ({
    ln1: buffer(`h${l}.ln1`, R * C),
    stats1: buffer(`h${l}.stats1`, (R * LAYERNORM_STATS_BYTES) / 4),
    qkv: buffer(`h${l}.qkv`, R * 3 * C),
    lse: buffer(`h${l}.lse`, B * NH * T), // attention's log-sum-exp per query row (its backward recomputes the probabilities)
    atty: buffer(`h${l}.atty`, R * C),
    xmid: buffer(`h${l}.xmid`, R * C),
    ln2: buffer(`h${l}.ln2`, R * C),
    stats2: buffer(`h${l}.stats2`, (R * LAYERNORM_STATS_BYTES) / 4),
    pre: buffer(`h${l}.pre`, R * Hd),
    act: buffer(`h${l}.act`, R * Hd),
    xout: buffer(`h${l}.xout`, R * C),
  }));
  const xL = L > 0 ? layerActs[L - 1].xout : x0;
  const lnf = buffer('lnf', R * C);
  const statsf = buffer('statsf', (R * LAYERNORM_STATS_BYTES) / 4);
  const logits = buffer('logits', R * V);
  // Gradient scratch: the residual stream's, one (R, C) temporary, the MLP's and attention's.
  const dres = buffer('d.res', R * C);
  const dtmp = buffer('d.tmp', R * C);
  const dact = buffer('d.act', R * Hd);
  const dqkv = buffer('d.qkv', R * 3 * C);
  const dd = buffer('d.att.D', B * NH * T); // attention backward: dout·out per query row
  const dlogits = buffer('d.logits', R * V);

  // ---- the step as a list of (kernel, bind group), built once ----
  type Dispatch = [Kernel, GPUBindGroup];
  const forward: Dispatch[] = [];
  const backward: Dispatch[] = [];
  const add = <N extends string>(list: Dispatch[], kernel: Kernel<N>, res: KernelResources<N>) =>
    list.push([kernel as Kernel, createBindGroup(device, kernel, res)]);
  const mm = (M: number, N: number, K: number, transA = false, transB = false) => matmulKernel(cache, { M, N, K, transA, transB });

  const shape = { B, T, C, V };
  add(forward, embeddingForwardKernel(cache, shape), { tokens, wte: P('wte'), wpe: P('wpe'), x: x0 });
  const lnFwd = layernormForwardKernel(cache, { rows: R, C });
  const lnDx = layernormDxKernel(cache, { rows: R, C, accumulate: true });
  const lnDxFirst = layernormDxKernel(cache, { rows: R, C, accumulate: false });
  const lnParams = layernormParamsKernel(cache, { rows: R, C });
  const bias = (n: number) => biasForwardKernel(cache, { rows: R, n, relu: false });
  const biasGrad = (n: number) => biasBackwardKernel(cache, { rows: R, n, relu: false });
  const residual = residualKernel(cache, R * C);
  const attFwd = attentionForwardKernel(cache, { B, T, C, NH });
  const [attBwdQ, attBwdKV] = attentionBackwardKernels(cache, { B, T, C, NH });
  const geluFwd = geluForwardKernel(cache, { rows: R, n: Hd });
  const geluBwd = geluBackwardKernel(cache, { rows: R, n: Hd });

  for (let l = 0; l < L; l++) {
    const a = layerActs[l];
    const xin = l === 0 ? x0 : layerActs[l - 1].xout;
    const p = `h${l}.`;
    add(forward, lnFwd, { x: xin, gamma: P(`${p}ln1.g`), beta: P(`${p}ln1.b`), y: a.ln1, stats: a.stats1 });
    add(forward, mm(R, 3 * C, C), { a: a.ln1, b: P(`${p}qkv.w`), c: a.qkv }); // qkv (R, 3C) = ln1 · Wqkv (no bias)
    add(forward, attFwd, { qkv: a.qkv, out: a.atty, lse: a.lse, dout: dtmp, dd, dqkv }); // (the backward's buffers bound, untouched)
    add(forward, mm(R, C, C), { a: a.atty, b: P(`${p}proj.w`), c: a.xmid }); // xmid = atty · Wproj + b + xin
    add(forward, bias(C), { x: a.xmid, bias: P(`${p}proj.b`) });
    add(forward, residual, { x: a.xmid, y: xin });
    add(forward, lnFwd, { x: a.xmid, gamma: P(`${p}ln2.g`), beta: P(`${p}ln2.b`), y: a.ln2, stats: a.stats2 });
    add(forward, mm(R, Hd, C), { a: a.ln2, b: P(`${p}fc.w`), c: a.pre }); // pre = ln2 · Wfc + b; act = GELU(pre)
    add(forward, geluFwd, { x: a.pre, bias: P(`${p}fc.b`), act: a.act });
    add(forward, mm(R, C, Hd), { a: a.act, b: P(`${p}out.w`), c: a.xout }); // xout = act · Wout + b + xmid
    add(forward, bias(C), { x: a.xout, bias: P(`${p}out.b`) });
    add(forward, residual, { x: a.xout, y: a.xmid });
  }
  add(forward, lnFwd, { x: xL, gamma: P('lnf.g'), beta: P('lnf.b'), y: lnf, stats: statsf });
  add(forward, mm(R, V, C), { a: lnf, b: P('head.w'), c: logits }); // logits (R, V) = lnf · Whead
  const xent = softmaxXentKernels(cache, { rows: R, classes: V });
  const rowLoss = buffer('xent.rowLoss', R);
  const xentRowsGroup = createBindGroup(device, xent.rows, { logits, labels: targets, dlogits, rowLoss });

  // backward: dlogits (R, V) → dres = d xL
  add(backward, mm(C, V, R, true), { a: lnf, b: dlogits, c: G('head.w') }); // dWhead = lnfᵀ · dlogits
  add(backward, mm(R, C, V, false, true), { a: dlogits, b: P('head.w'), c: dtmp }); // dlnf = dlogits · Wheadᵀ
  add(backward, lnDxFirst, { x: xL, gamma: P('lnf.g'), stats: statsf, dy: dtmp, dx: dres });
  add(backward, lnParams, { x: xL, stats: statsf, dy: dtmp, dgamma: G('lnf.g'), dbeta: G('lnf.b') });
  for (let l = L - 1; l >= 0; l--) {
    const a = layerActs[l];
    const xin = l === 0 ? x0 : layerActs[l - 1].xout;
    const p = `h${l}.`;
    // MLP branch: dres = d xout
    add(backward, biasGrad(C), { dy: dres, dbias: G(`${p}out.b`) });
    add(backward, mm(Hd, C, R, true), { a: a.act, b: dres, c: G(`${p}out.w`) });
    add(backward, mm(R, Hd, C, false, true), { a: dres, b: P(`${p}out.w`), c: dact });
    add(backward, geluBwd, { dy: dact, pre: a.pre, dbias: G(`${p}fc.b`) });
    add(backward, mm(C, Hd, R, true), { a: a.ln2, b: dact, c: G(`${p}fc.w`) });
    add(backward, mm(R, C, Hd, false, true), { a: dact, b: P(`${p}fc.w`), c: dtmp });
    add(backward, lnParams, { x: a.xmid, stats: a.stats2, dy: dtmp, dgamma: G(`${p}ln2.g`), dbeta: G(`${p}ln2.b`) });
    add(backward, lnDx, { x: a.xmid, gamma: P(`${p}ln2.g`), stats: a.stats2, dy: dtmp, dx: dres }); // dres = d xmid
    // attention branch
    add(backward, biasGrad(C), { dy: dres, dbias: G(`${p}proj.b`) });
    add(backward, mm(C, C, R, true), { a: a.atty, b: dres, c: G(`${p}proj.w`) });
    add(backward, mm(R, C, C, false, true), { a: dres, b: P(`${p}proj.w`), c: dtmp });
    add(backward, attBwdQ, { qkv: a.qkv, out: a.atty, lse: a.lse, dout: dtmp, dd, dqkv });
    add(backward, attBwdKV, { qkv: a.qkv, out: a.atty, lse: a.lse, dout: dtmp, dd, dqkv });
    add(backward, mm(C, 3 * C, R, true), { a: a.ln1, b: dqkv, c: G(`${p}qkv.w`) });
    add(backward, mm(R, C, 3 * C, false, true), { a: dqkv, b: P(`${p}qkv.w`), c: dtmp });
    add(backward, lnParams, { x: xin, stats: a.stats1, dy: dtmp, dgamma: G(`${p}ln1.g`), dbeta: G(`${p}ln1.b`) });
    add(backward, lnDx, { x: xin, gamma: P(`${p}ln1.g`), stats: a.stats1, dy: dtmp, dx: dres }); // dres = d xin
  }
  add(backward, embeddingWteKernel(cache, shape), { dx: dres, dwte: G('wte'), order, starts });
  add(backward, embeddingWpeKernel(cache, shape), { dx: dres, dwpe: { ...G('wpe'), size: T * C * 4 } });
  const [sumsqKernel, adamw] = adamwClippedKernels(cache, layout.totalFloats);
  const sumsqGroup = createBindGroup(device, sumsqKernel, { grad, sumsq });

  const ready = cache.ready();
  ready.catch(() => {}); // surfaced by train(); not an unhandled rejection meanwhile

  // Per-step slots at dynamic offsets (loss, AdamW uniform), sized for the longest round so far.
  const lossStride = alignTo(XENT_LOSS_BYTES, storageAlign);
  const hyperStride = alignTo(ADAMW_HYPER.size, limits.minUniformBufferOffsetAlignment);
  let capacity = 0;
  let losses: GPUBuffer | null = null;
  let hyper: GPUBuffer | null = null;
  let xentTotalGroup: GPUBindGroup | null = null;
  let adamwGroup: GPUBindGroup | null = null;
  function ensureCapacity(steps: number) {
    if (steps <= capacity) return;
    losses?.destroy();
    hyper?.destroy();
    capacity = Math.max(steps, 2 * capacity);
    losses = device.createBuffer({ label: 'gpt.losses', size: capacity * lossStride, usage: STORAGE });
    hyper = device.createBuffer({ label: 'gpt.hyper', size: capacity * hyperStride, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    xentTotalGroup = createBindGroup(device, xent.total, { rowLoss, loss: { buffer: losses, size: XENT_LOSS_BYTES } });
    adamwGroup = createBindGroup(device, adamw, { params, grad, m, v, hyper: { buffer: hyper, size: ADAMW_HYPER.size }, sumsq });
  }

  function assertUsable(what: string) {
    if (destroyed) throw new KernelError(`GptTrainer.${what}: the trainer was destroyed.`);
    if (lost) throw new DeviceLostError('The GPU device was lost; training cannot continue on it.', { details: `reason: ${lost.reason}; ${lost.message}` });
  }
  const lostOr = (err: unknown) => (lost ? new DeviceLostError('The GPU device was lost during training.', { details: lost.message, cause: err }) : err);

  function checkTokens(name: string, a: Uint32Array, steps: number) {
    if (a.length !== steps * R) throw new RangeError(`train: ${name} has ${a.length} ids, expected steps ${steps} × B ${B} × T ${T}`);
    for (let i = 0; i < a.length; i++) if (a[i] >= V) throw new RangeError(`train: ${name}[${i}] = ${a[i]} is not < vocab ${V}`);
  }

  return {
    spec,
    batchSize: B,
    seqLen: T,
    ready,
    residentBytes: owned.reduce((sum, b) => sum + b.size, 0),

    async train({ params: start, tokens: tok, targets: tgt, steps, adamw: cfg, segmentMs, signal, between }: GptTrainArgs): Promise<GptTrainResult> {
      assertUsable('train');
      if (busy) throw new KernelError('GptTrainer.train: a round is already running on this trainer.');
      if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`train: steps must be a positive integer, got ${steps}`);
      if (start.length !== spec.paramCount) throw new RangeError(`train: params has ${start.length} floats, the model ${spec.paramCount}`);
      checkTokens('tokens', tok, steps);
      checkTokens('targets', tgt, steps);
      refusePrime(cfg, 'GptTrainer.train');
      if (segmentMs !== undefined && !(segmentMs > 0)) throw new RangeError(`train: segmentMs must be positive, got ${segmentMs}`);
      busy = true;
      const temp: GPUBuffer[] = [];
      try {
        await ready;
        ensureCapacity(steps);
        const padded = new Float32Array(layout.totalFloats);
        spec.tensors.forEach((t, i) => padded.set(start.subarray(t.offset, t.offset + t.size), layout.offsets[i]));
        const hyperBytes = new ArrayBuffer(steps * hyperStride);
        const view = new DataView(hyperBytes);
        for (let s = 0; s < steps; s++) writeAdamWHyper(view, s * hyperStride, s + 1, cfg);
        const mk = (label: string, size: number, usage: number) => {
          const b = device.createBuffer({ label: `gpt.round.${label}`, size, usage });
          temp.push(b);
          return b;
        };
        const allTokens = mk('tokens', tok.byteLength, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        const allTargets = mk('targets', tgt.byteLength, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        const index = new Uint32Array(steps * (R + V + 1));
        for (let s = 0; s < steps; s++) {
          const { order: o, starts: st } = tokenIndex(tok.subarray(s * R, (s + 1) * R), V);
          index.set(o, s * (R + V + 1));
          index.set(st, s * (R + V + 1) + R);
        }
        const allIndex = mk('tokens.index', index.byteLength, GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
        const paramsOut = mk('params.out', layout.totalFloats * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
        const lossesOut = mk('losses.out', steps * lossStride, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
        const batchBytes = R * 4;
        const encodeSteps = (enc: GPUCommandEncoder, from: number, to: number) => {
          for (let s = from; s < to; s++) {
            enc.copyBufferToBuffer(allTokens, s * batchBytes, tokens, 0, batchBytes);
            enc.copyBufferToBuffer(allTargets, s * batchBytes, targets, 0, batchBytes);
            enc.copyBufferToBuffer(allIndex, s * (R + V + 1) * 4, order, 0, R * 4);
            enc.copyBufferToBuffer(allIndex, (s * (R + V + 1) + R) * 4, starts, 0, (V + 1) * 4);
            const pass = enc.beginComputePass({ label: `gpt.step${s}` });
            for (const [k, g] of forward) encodeDispatch(pass, k, g);
            encodeDispatch(pass, xent.rows, xentRowsGroup);
            encodeDispatch(pass, xent.total, xentTotalGroup!, [s * lossStride]);
            for (const [k, g] of backward) encodeDispatch(pass, k, g);
            encodeDispatch(pass, sumsqKernel, sumsqGroup);
            encodeDispatch(pass, adamw, adamwGroup!, [s * hyperStride]);
            pass.end();
          }
        };
        const { gpuMs, busyMs } = await runSegmentedRound({
          device,
          steps,
          segmentMs,
          signal,
          between,
          label: 'gpt',
          encodeSteps,
          lostOr,
          isLost: () => lost !== null,
          begin: (enc) => {
            device.queue.writeBuffer(params, 0, padded);
            device.queue.writeBuffer(allTokens, 0, tok as Uint32Array<ArrayBuffer>);
            device.queue.writeBuffer(allTargets, 0, tgt as Uint32Array<ArrayBuffer>);
            device.queue.writeBuffer(allIndex, 0, index);
            device.queue.writeBuffer(hyper!, 0, hyperBytes);
            enc.clearBuffer(m); // AdamW state restarts every round
            enc.clearBuffer(v);
          },
          readback: [
            [params, paramsOut],
            [losses!, lossesOut],
          ],
        });
        const got = new Float32Array(paramsOut.getMappedRange());
        const result = new Float32Array(spec.paramCount);
        spec.tensors.forEach((t, i) => result.set(got.subarray(layout.offsets[i], layout.offsets[i] + t.size), t.offset));
        const strided = new Float32Array(lossesOut.getMappedRange());
        const stepLosses = Float32Array.from({ length: steps }, (_, s) => strided[(s * lossStride) / 4]);
        paramsOut.unmap();
        lossesOut.unmap();
        return { params: result, losses: stepLosses, steps, samples: steps * B, gpuMs, busyMs };
      } finally {
        for (const b of temp) b.destroy();
        busy = false;
      }
    },

    async forwardLogits(start: Float32Array, tok: Uint32Array): Promise<Float32Array> {
      assertUsable('forwardLogits');
      if (busy) throw new KernelError('GptTrainer.forwardLogits: a round is already running on this trainer.');
      if (start.length !== spec.paramCount) throw new RangeError(`forwardLogits: params has ${start.length} floats, the model ${spec.paramCount}`);
      if (tok.length !== R) throw new RangeError(`forwardLogits: tokens has ${tok.length} ids, expected B ${B} × T ${T}`);
      for (let i = 0; i < tok.length; i++) if (tok[i] >= V) throw new RangeError(`forwardLogits: tokens[${i}] = ${tok[i]} is not < vocab ${V}`);
      busy = true;
      const out = device.createBuffer({ label: 'gpt.forward.logits.out', size: R * V * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      try {
        await ready;
        const padded = new Float32Array(layout.totalFloats);
        spec.tensors.forEach((t, i) => padded.set(start.subarray(t.offset, t.offset + t.size), layout.offsets[i]));
        await withErrorScope(device, 'encoding a GPT forward pass', () => {
          device.queue.writeBuffer(params, 0, padded);
          device.queue.writeBuffer(tokens, 0, tok as Uint32Array<ArrayBuffer>);
          const enc = device.createCommandEncoder({ label: 'gpt.forward' });
          const pass = enc.beginComputePass({ label: 'gpt.forward' });
          for (const [k, g] of forward) encodeDispatch(pass, k, g);
          pass.end();
          enc.copyBufferToBuffer(logits, 0, out, 0, out.size);
          device.queue.submit([enc.finish()]);
        });
        await out.mapAsync(GPUMapMode.READ).catch((err) => {
          throw lostOr(err);
        });
        const result = new Float32Array(out.getMappedRange().slice(0));
        out.unmap();
        return result;
      } finally {
        out.destroy();
        busy = false;
      }
    },

    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const buf of [...owned, losses, hyper]) buf?.destroy();
    },
  };
}
