// The training worker: owns the WebGPU device and the MLP or GPT trainer from kernels/ (or, on a
// browser without WebGPU after useCpu(), the shared/ CPU reference math in cpu-trainer.ts). The page
// talks to it only through web/src/client/trainer.ts (comlink). Errors cross the boundary as
// SerializedError data (shared/errors.ts: code, shortMessage, details), since comlink keeps only
// an Error's name and message; the page revives them into the kernel error classes.
import * as Comlink from 'comlink';
import { acquireDevice, autotuneMatmul, createGptTrainer, createMlpTrainer } from '../../kernels/index.ts';
import { openTuneStore } from './tune-store.ts';
import { trainCpuRound } from './cpu-trainer.ts';
import { gptSpec, initParams, mlpSpec, type GptDims, type GptSpec, type MlpSpec } from '../../shared/model.ts';
import { meanOf, trainingFlopsPerSample, trainLocal, windowBatch } from '../../shared/preset.ts';
import { cohortAggregateOfBytes, compressUpdate, pseudoGradient, type CohortAggregate } from '../../shared/round.ts';
import type { AdamWState, Dataset } from '../../shared/mlp.ts';
import type { AdapterInfo } from '../../shared/wire/index.ts';
import { ResidualTree } from '../../shared/wire/evidence.ts';
import { serializeError } from '../../shared/errors.ts';
import type { AbortReport, AggregateArgs, BenchmarkResult, DeviceLoss, Throttle, TrainArgs, TrainResult, TrainerWorkerApi } from '../src/client/trainer.ts';

type GpuContext = Awaited<ReturnType<typeof acquireDevice>>;

/** A round's training before compression: θ_local and the measured figures. */
interface Trained extends Omit<TrainResult, 'frame' | 'frameHash' | 'residual' | 'residualBefore' | 'state'> {
  params: Float32Array;
  /** The AdamW state after the round, when it went on from TrainArgs.state. */
  stateAfter?: AdamWState;
}
type MlpTrainer = ReturnType<typeof createMlpTrainer>;
type GptTrainer = ReturnType<typeof createGptTrainer>;

let ctx: GpuContext | null = null;
let acquiring: Promise<GpuContext> | null = null;
let trainer: MlpTrainer | null = null;
let spec: MlpSpec | null = null;
let batchSize = 0;
/** Set while the run is a GPT (init with dims): the MLP state above is then unused. */
let gpt: { spec: GptSpec; trainer: GptTrainer | null } | null = null;
let data: Dataset | null = null;
let cpu = false;
/** The round in flight: its abort switch and its settling. */
let current: { ac: AbortController; settled: Promise<unknown> } | null = null;
/**
 * GPU work per submission while a round runs, ms: Stop waits for at most one segment. Small
 * enough to stop well within a second, large enough that the per-submit drain costs little.
 */
const SEGMENT_MS = 150;
const now = () => performance.timeOrigin + performance.now();
let throttle: Throttle = { duty: 1, paused: false };
let throttleChanged: () => void = () => {};

/** Sleeps `ms`, or less when aborted or when the throttle changes. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(id);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const id = setTimeout(done, ms);
    signal.addEventListener('abort', done);
    throttleChanged = done;
  });
}

/**
 * Between two segments: rest long enough that busy / (busy + rest) = duty, then wait out a
 * pause. Both end at once on abort, so Stop stays within one segment.
 */
async function governor(busyMs: number, signal: AbortSignal): Promise<void> {
  const duty = Math.min(1, Math.max(0.05, throttle.duty));
  if (duty < 1 && !signal.aborted) await sleep((busyMs * (1 - duty)) / duty, signal);
  while (throttle.paused && !signal.aborted) await sleep(60_000, signal);
}
let resolveLost!: (loss: DeviceLoss) => void;
const lost = new Promise<DeviceLoss>((r) => (resolveLost = r));

/** What a CPU trainer says where the page shows the adapter (never sent as an adapter). */
const CPU_ADAPTER: AdapterInfo = { vendor: 'cpu', architecture: 'javascript', description: 'shared/ reference math in a worker' };

/** Keep code and details across the comlink boundary (a thrown plain object is cloned as is). */
function rethrow(e: unknown): never {
  throw serializeError(e);
}

function adapterInfo(c: GpuContext): AdapterInfo {
  return { vendor: c.adapter.vendor, architecture: c.adapter.architecture, description: c.adapter.description };
}

async function device(): Promise<GpuContext> {
  if (ctx) {
    ctx.assertReady();
    return ctx;
  }
  acquiring ??= acquireDevice(self.navigator.gpu, { label: 'idlegrad-trainer' }).then(async (c) => {
    // At join: pick the matmul tiling for this adapter (measured once, then cached per adapter).
    await autotuneMatmul(c, { store: await openTuneStore() });
    ctx = c;
    void c.lost.then((s) => resolveLost({ reason: s.reason, message: s.message }));
    return c;
  });
  try {
    return await acquiring;
  } catch (e) {
    acquiring = null;
    throw e;
  }
}

function requireTrainer(): MlpTrainer {
  if (!trainer || !spec) throw new Error('the trainer is not initialised: call init(sizes, batchSize) first');
  ctx?.assertReady();
  return trainer;
}

/** Weights only (biases are negligible): forward 2·Σ in·out FLOPs per sample, backward twice that. */
const flopsPerSample = (s: MlpSpec) => 6 * s.sizes.slice(1).reduce((acc, out, l) => acc + s.sizes[l] * out, 0);

/**
 * A GPT round: the windows named by `batches` become (steps, B, T) tokens and targets. Without
 * WebGPU the shared/ reference trains instead, in one piece (a Stop waits for the round).
 */
async function trainGpt(g: NonNullable<typeof gpt>, d: Dataset, args: TrainArgs, signal: AbortSignal): Promise<Trained> {
  if (args.state) throw new Error('the GPT trainers do not keep an inner AdamW state across rounds (run setting inner.state "kept" is for the MLP)');
  const t0 = performance.now();
  if (!g.trainer) {
    const B = args.batches.length / args.steps;
    const per = Array.from({ length: args.steps }, (_, s) => args.batches.subarray(s * B, (s + 1) * B));
    const r = trainLocal(g.spec, args.params, d, per, args.adamw);
    const ms = performance.now() - t0;
    return {
      params: r.params,
      losses: { before: r.lossBefore, after: r.lossAfter, mean: r.lossMean },
      steps: args.steps,
      samples: args.batches.length,
      gpuMs: ms,
      device: 'cpu',
      busyMs: ms,
      wallMs: ms,
    };
  }
  ctx?.assertReady();
  const { tokens, targets } = windowBatch(d, args.batches);
  const r = await g.trainer.train({
    params: args.params,
    tokens,
    targets,
    steps: args.steps,
    adamw: args.adamw,
    segmentMs: SEGMENT_MS,
    signal,
    between: (seg) => governor(seg.busyMs, signal),
  });
  return {
    params: r.params,
    losses: { before: r.losses[0], after: r.losses[r.steps - 1], mean: meanOf(r.losses.subarray(0, r.steps)) },
    steps: r.steps,
    samples: r.samples,
    gpuMs: r.gpuMs,
    device: 'gpu',
    busyMs: r.busyMs,
    wallMs: performance.now() - t0,
  };
}

/**
 * Step 4 in the worker: v = θ_r − θ_local + e (args.params is still θ_r: every trainer copies
 * its start), compressed with error feedback into the round's frame. The page gets bytes.
 */
function compress(args: TrainArgs, t: Trained): TrainResult {
  const { params, ...figures } = t;
  const samples = t.steps * (args.batches.length / args.steps);
  const { stateAfter, ...rest } = figures;
  const own = compressUpdate(args.update, pseudoGradient(args.params, params, args.residual), samples);
  const state = args.state && stateAfter ? { state: { before: args.state, after: stateAfter } } : {};
  return { ...rest, frame: own.bytes, frameHash: own.hash, residual: own.residual, residualBefore: args.residual, ...state };
}

/**
 * The GPT benchmark: `steps` steps of the run's own batch on synthetic tokens, after the
 * pipelines compiled (no warm-up step: one gpt-small step takes about 40 s a sequence on
 * SwiftShader). On the CPU path, one step of the shared/ reference.
 */
async function benchmarkGpt(g: NonNullable<typeof gpt>, steps: number): Promise<BenchmarkResult> {
  const T = g.spec.dims.context;
  const R = batchSize * T;
  const tokens = Uint32Array.from({ length: steps * R }, (_, i) => ((i * 2654435761) >>> 24) % g.spec.dims.vocab);
  const targets = Uint32Array.from({ length: steps * R }, (_, i) => tokens[(i + 1) % tokens.length]);
  const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  const params = initParams(g.spec, 1);
  let samples: number;
  let ms: number;
  if (g.trainer) {
    await g.trainer.ready;
    const t0 = performance.now();
    samples = (await g.trainer.train({ params, tokens, targets, steps, adamw })).samples;
    ms = performance.now() - t0;
  } else {
    const windows = { images: new Uint8Array(batchSize * (T + 1)), labels: new Uint8Array(batchSize), count: batchSize, features: T + 1, classes: 256 };
    for (let i = 0; i < windows.images.length; i++) windows.images[i] = tokens[i % tokens.length];
    const t0 = performance.now();
    trainLocal(g.spec, params, windows, [Array.from({ length: batchSize }, (_, i) => i)], adamw);
    samples = batchSize;
    ms = performance.now() - t0;
  }
  return { gflops: (trainingFlopsPerSample(g.spec) * samples) / (Math.max(ms, 1e-3) * 1e6), samplesPerSec: (samples * 1000) / Math.max(ms, 1e-3) };
}

const api = {
  async probe(): Promise<AdapterInfo> {
    try {
      return adapterInfo(await device());
    } catch (e) {
      rethrow(e);
    }
  },

  async useCpu(): Promise<void> {
    cpu = true;
  },

  async init(sizes: number[], batch: number, dims?: GptDims): Promise<AdapterInfo> {
    try {
      if (dims) {
        const same = gpt && batchSize === batch && JSON.stringify(gpt.spec.dims) === JSON.stringify(gptSpec(dims).dims);
        if (!same) {
          gpt?.trainer?.destroy();
          trainer?.destroy();
          trainer = null;
          spec = null;
          const s = gptSpec(dims);
          batchSize = batch;
          gpt = { spec: s, trainer: cpu ? null : createGptTrainer((await device()).device, s, { batchSize: batch }) };
        }
        return cpu ? CPU_ADAPTER : adapterInfo(await device());
      }
      gpt?.trainer?.destroy();
      gpt = null;
      if (cpu) {
        spec = mlpSpec(sizes);
        batchSize = batch;
        return CPU_ADAPTER;
      }
      const c = await device();
      const same = spec && batchSize === batch && spec.sizes.length === sizes.length && spec.sizes.every((s, i) => s === sizes[i]);
      if (!same) {
        trainer?.destroy();
        trainer = null;
        spec = mlpSpec(sizes);
        batchSize = batch;
        trainer = createMlpTrainer(c.device, spec, { batchSize: batch });
        if (data) trainer.setData(data);
      }
      return adapterInfo(c);
    } catch (e) {
      rethrow(e);
    }
  },

  async setData(d: Dataset): Promise<void> {
    try {
      data = d;
      if (!cpu && !gpt) requireTrainer().setData(d);
    } catch (e) {
      rethrow(e);
    }
  },

  async train(args: TrainArgs): Promise<TrainResult> {
    const ac = new AbortController();
    const run = (async (): Promise<Trained> => {
      if (!data) throw new Error('no training data: call setData first');
      if (gpt) return trainGpt(gpt, data, args, ac.signal);
      if (cpu) {
        if (!spec) throw new Error('the trainer is not initialised: call init(sizes, batchSize) first');
        const r = await trainCpuRound(spec, args.params, data, args.batches, args.steps, args.adamw, { signal: ac.signal, state: args.state });
        return {
          params: r.params,
          stateAfter: r.state,
          losses: { before: r.lossBefore, after: r.lossAfter, mean: r.lossMean },
          steps: r.steps,
          samples: r.samples,
          gpuMs: r.ms,
          device: 'cpu',
          busyMs: r.ms,
          wallMs: r.ms,
        };
      }
      const t0 = performance.now();
      const r = await requireTrainer().train({ ...args, segmentMs: SEGMENT_MS, signal: ac.signal, between: (seg) => governor(seg.busyMs, ac.signal) });
      return {
        params: r.params,
        stateAfter: r.state,
        losses: { before: r.lossBefore, after: r.lossAfter, mean: meanOf(r.losses.subarray(0, r.steps)) },
        steps: r.steps,
        samples: r.samples,
        gpuMs: r.gpuMs,
        device: 'gpu',
        busyMs: r.busyMs,
        wallMs: performance.now() - t0,
      };
    })();
    const mine = {
      ac,
      settled: run.then(
        () => null,
        (e: unknown) => e,
      ),
    };
    current = mine;
    try {
      const out = compress(args, await run);
      const state = out.state ? [out.state.before.m.buffer, out.state.before.v.buffer, out.state.after.m.buffer, out.state.after.v.buffer] : [];
      return Comlink.transfer(out, [...new Set([out.frame.buffer, out.residual.buffer, out.residualBefore.buffer, ...state])] as ArrayBuffer[]);
    } catch (e) {
      rethrow(e);
    } finally {
      if (current === mine) current = null;
    }
  },

  async aggregate(args: AggregateArgs): Promise<CohortAggregate> {
    try {
      const agg = cohortAggregateOfBytes(args.run, args.round, args.own, args.received);
      return Comlink.transfer(agg, [agg.bytes.buffer as ArrayBuffer]);
    } catch (e) {
      rethrow(e);
    }
  },

  async residualLevels(values: Float32Array): Promise<Uint8Array[]> {
    try {
      const levels = ResidualTree.levelsOf(values);
      return Comlink.transfer(
        levels,
        levels.map((l) => l.buffer as ArrayBuffer),
      );
    } catch (e) {
      rethrow(e);
    }
  },

  async setThrottle(t: Throttle): Promise<void> {
    throttle = { duty: Math.min(1, Math.max(0.05, t.duty)), paused: t.paused };
    throttleChanged();
  },

  async abort(): Promise<AbortReport | null> {
    const c = current;
    if (!c) return null;
    const requestedAt = now();
    c.ac.abort();
    // The round settles once its last submitted segment drained (kernels/ awaits
    // onSubmittedWorkDone between segments) or once the CPU loop reached its next slice.
    const outcome = await c.settled;
    const stepsDone = outcome instanceof Error && 'stepsDone' in outcome ? Number(outcome.stepsDone) : -1;
    return { requestedAt, idleAt: now(), stepsDone };
  },

  async benchmark(stepsAsked?: number): Promise<BenchmarkResult> {
    try {
      if (gpt) return await benchmarkGpt(gpt, stepsAsked ?? 1);
      const steps = stepsAsked ?? 3;
      if (!spec) throw new Error('the trainer is not initialised: call init(sizes, batchSize) first');
      const s = spec;
      // Synthetic samples, so the benchmark neither needs nor disturbs the real data.
      const count = batchSize * 2;
      const features = s.sizes[0];
      const classes = s.sizes[s.sizes.length - 1];
      const images = new Uint8Array(count * features);
      const labels = new Uint8Array(count);
      for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 24;
      for (let i = 0; i < count; i++) labels[i] = i % classes;
      const synthetic = { images, labels, count, features, classes };
      const batches = (n: number) => Uint32Array.from({ length: n * batchSize }, (_, i) => i % count);
      const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
      const params = initParams(s, 1);
      const rate = (samples: number, ms: number) => ({
        gflops: (flopsPerSample(s) * samples) / (Math.max(ms, 1e-3) * 1e6),
        samplesPerSec: (samples * 1000) / Math.max(ms, 1e-3),
      });
      if (cpu) {
        const r = await trainCpuRound(s, params, synthetic, batches(steps), steps, adamw);
        return rate(r.samples, r.ms);
      }
      const t = requireTrainer();
      t.setData(synthetic);
      try {
        await t.train({ params: params.slice(), batches: batches(1), steps: 1, adamw }); // warm-up: pipelines, buffers
        const t0 = performance.now();
        const r = await t.train({ params, batches: batches(steps), steps, adamw });
        return rate(r.samples, performance.now() - t0);
      } finally {
        if (data) t.setData(data);
      }
    } catch (e) {
      rethrow(e);
    }
  },

  async limits(): Promise<Record<string, number> | null> {
    return cpu || !ctx ? null : { ...ctx.limits };
  },

  deviceLost(): Promise<DeviceLoss> {
    return lost;
  },
} satisfies TrainerWorkerApi;

Comlink.expose(api);
