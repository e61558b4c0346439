// The training worker: owns the WebGPU device and the MLP trainer from kernels/. The page
// talks to it only through web/src/client/trainer.ts (comlink). Errors cross the boundary as
// plain Errors whose name is kept (WebGpuUnavailableError, DeviceLostError, …) and whose
// message carries the details, since comlink drops other fields.
import * as Comlink from 'comlink';
import { acquireDevice, createMlpTrainer } from '../../kernels/index.ts';
import { initParams, mlpSpec, type MlpSpec } from '../../shared/model.ts';
import type { Dataset } from '../../shared/mlp.ts';
import type { AdapterInfo } from '../../shared/protocol.ts';
import type { BenchmarkResult, DeviceLoss, TrainArgs, TrainResult, TrainerWorkerApi } from '../src/client/trainer.ts';

type GpuContext = Awaited<ReturnType<typeof acquireDevice>>;
type MlpTrainer = ReturnType<typeof createMlpTrainer>;

let ctx: GpuContext | null = null;
let acquiring: Promise<GpuContext> | null = null;
let trainer: MlpTrainer | null = null;
let spec: MlpSpec | null = null;
let batchSize = 0;
let data: Dataset | null = null;
let resolveLost!: (loss: DeviceLoss) => void;
const lost = new Promise<DeviceLoss>((r) => (resolveLost = r));

/** Keep name and details across the comlink boundary. */
function rethrow(e: unknown): never {
  if (e instanceof Error) {
    const x = e as Error & { shortMessage?: string; details?: string };
    const err = new Error(x.details ? `${x.shortMessage ?? x.message} (${x.details})` : x.message);
    err.name = x.name;
    throw err;
  }
  throw new Error(String(e));
}

function adapterInfo(c: GpuContext): AdapterInfo {
  return { vendor: c.adapter.vendor, architecture: c.adapter.architecture, description: c.adapter.description };
}

async function device(): Promise<GpuContext> {
  if (ctx) {
    ctx.assertReady();
    return ctx;
  }
  acquiring ??= acquireDevice(self.navigator.gpu, { label: 'idlegrad-trainer' }).then((c) => {
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

const api = {
  async probe(): Promise<AdapterInfo> {
    try {
      return adapterInfo(await device());
    } catch (e) {
      rethrow(e);
    }
  },

  async init(sizes: number[], batch: number): Promise<AdapterInfo> {
    try {
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
      requireTrainer().setData(d);
    } catch (e) {
      rethrow(e);
    }
  },

  async train(args: TrainArgs): Promise<TrainResult> {
    try {
      if (!data) throw new Error('no training data: call setData first');
      const r = await requireTrainer().train(args);
      const out: TrainResult = { params: r.params, lossBefore: r.lossBefore, lossAfter: r.lossAfter, steps: r.steps, samples: r.samples, gpuMs: r.gpuMs };
      return Comlink.transfer(out, [out.params.buffer as ArrayBuffer]);
    } catch (e) {
      rethrow(e);
    }
  },

  async benchmark(steps = 3): Promise<BenchmarkResult> {
    try {
      const t = requireTrainer();
      const s = spec!;
      // Synthetic samples, so the benchmark neither needs nor disturbs the real data.
      const count = batchSize * 2;
      const features = s.sizes[0];
      const classes = s.sizes[s.sizes.length - 1];
      const images = new Uint8Array(count * features);
      const labels = new Uint8Array(count);
      for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 24;
      for (let i = 0; i < count; i++) labels[i] = i % classes;
      t.setData({ images, labels, count, features, classes });
      const batches = (n: number) => Uint32Array.from({ length: n * batchSize }, (_, i) => i % count);
      const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
      const params = initParams(s, 1);
      try {
        await t.train({ params: params.slice(), batches: batches(1), steps: 1, adamw }); // warm-up: pipelines, buffers
        const t0 = performance.now();
        const r = await t.train({ params, batches: batches(steps), steps, adamw });
        const ms = Math.max(performance.now() - t0, 1e-3);
        return { gflops: (flopsPerSample(s) * r.samples) / (ms * 1e6), samplesPerSec: (r.samples * 1000) / ms };
      } finally {
        if (data) t.setData(data);
      }
    } catch (e) {
      rethrow(e);
    }
  },

  deviceLost(): Promise<DeviceLoss> {
    return lost;
  },
} satisfies TrainerWorkerApi;

Comlink.expose(api);
