// The one module that owns the training worker (web/worker/trainer.worker.ts). The page
// never touches WebGPU and never handles a parameter vector after sending θ_r: it sends θ_r,
// the sample indices and its error-feedback residual in, and gets the compressed frame, the
// new residual and the measured losses back (DESIGN.md steps 3–4 happen in the worker), with
// every large buffer transferred rather than copied.
import * as Comlink from 'comlink';
import type { Hex } from 'viem';
import type { AdamWConfig, AdamWState, Dataset } from '../../../shared/mlp.ts';
import type { CohortAggregate, HeldBytes, UpdateHeader } from '../../../shared/round.ts';
import type { RunSpec } from '../../../shared/config.ts';
import type { GptDims } from '../../../shared/model.ts';
import type { AdapterInfo } from '../../../shared/wire/index.ts';
import { isSerializedError } from '../../../shared/errors.ts';
import { reviveKernelError } from '../../../kernels/errors.ts';

export interface TrainArgs {
  /** θ_r, (paramCount) float32. Transferred: the caller's array is detached. */
  params: Float32Array;
  /** steps × batchSize sample indices, step-major. Transferred. */
  batches: Uint32Array;
  steps: number;
  adamw: AdamWConfig;
  /** e, the error-feedback residual before this round, (paramCount). Transferred; it comes back as `residualBefore`. */
  residual: Float32Array;
  /** The frame's header and codec: the worker compresses v = θ_r − θ_local + e into it. */
  update: UpdateHeader;
  /**
   * The inner AdamW state to go on from (run setting inner.state 'kept'; the MLP's trainers only).
   * Transferred; it comes back as `state.before`. Absent: AdamW from zero moments.
   */
  state?: AdamWState;
}

/**
 * Resource governance: the share of wall time the GPU queue may be busy (1 = no throttle),
 * and a pause switch (idle-only mode pauses while the volunteer is using the machine).
 */
export interface Throttle {
  duty: number;
  paused: boolean;
}

/** Which processor a trainer computes on: credited and shown as such. */
export type ComputeDevice = 'gpu' | 'cpu';

/** The worker's own account of a Stop: both times in epoch ms on the worker's clock. */
export interface AbortReport {
  /** When the worker received the abort. */
  requestedAt: number;
  /** When the round's GPU (or CPU) work had ended: the queue drained after the last segment. */
  idleAt: number;
  stepsDone: number;
}

export interface TrainResult {
  /** This volunteer's update frame for the round: C(θ_r − θ_local + e), and its hash. */
  frame: Uint8Array;
  frameHash: Hex;
  /** e' = v − decode(frame): the residual after this round. */
  residual: Float32Array;
  /** e, handed back (the validator's evidence names both). */
  residualBefore: Float32Array;
  /** With TrainArgs.state: that state handed back, and the state after the round's last step. */
  state?: { before: AdamWState; after: AdamWState };
  /**
   * Mean cross-entropy of the first and of the last batch, as measured on the GPU, and over all
   * the round's steps (`mean`: what the page shows; one batch of 32 is too noisy to read).
   */
  losses: { before: number; after: number; mean: number };
  steps: number;
  samples: number;
  gpuMs: number;
  device: ComputeDevice;
  /** Time the GPU queue was busy with this round, and the round's wall time in the worker, ms. */
  busyMs: number;
  wallMs: number;
}

/** The cohort aggregate's inputs (DESIGN.md step 5): this page's frame and the peers' it holds. */
export interface AggregateArgs {
  run: RunSpec;
  round: number;
  own: HeldBytes;
  received: HeldBytes[];
}

export interface BenchmarkResult {
  gflops: number;
  samplesPerSec: number;
}

export interface DeviceLoss {
  reason: string;
  message: string;
}

/** What the worker exposes through comlink. The worker declares `satisfies TrainerWorkerApi`. */
export interface TrainerWorkerApi {
  /** Acquire the GPU device (once) and describe the adapter. */
  probe(): Promise<AdapterInfo>;
  /** No WebGPU: train with the shared/ CPU reference math from now on. */
  useCpu(): Promise<void>;
  /** Stop the round in flight within one segment; null when none was running. */
  abort(): Promise<AbortReport | null>;
  /** Applies from the next segment of the round in flight. */
  setThrottle(t: Throttle): Promise<void>;
  /**
   * Build the MLP trainer for these widths and batch size (acquiring the device if needed); with
   * `gpt`, the GPT trainer of those dims instead (sizes unused; data are shared/preset.ts windows).
   */
  init(sizes: number[], batchSize: number, gpt?: GptDims): Promise<AdapterInfo>;
  setData(data: Dataset): Promise<void>;
  train(args: TrainArgs): Promise<TrainResult>;
  /** The cohort aggregate, computed off the main thread (a dense paramCount vector on the way). */
  aggregate(args: AggregateArgs): Promise<CohortAggregate>;
  /** ResidualTree.levelsOf(values) off the main thread (values are transferred). */
  residualLevels(values: Float32Array): Promise<Uint8Array[]>;
  /** A few steps on synthetic data (an MLP: 3 after a warm-up; a GPT: 1 of the run's batch): measured GFLOP/s. Needs init(). */
  benchmark(steps?: number): Promise<BenchmarkResult>;
  /** The device's limits (the device profile); null on the CPU path. */
  limits(): Promise<Record<string, number> | null>;
  /** Settles when the device is lost. */
  deviceLost(): Promise<DeviceLoss>;
}

/** The page's view of a trainer; GpuTrainer is the real one, tests may pass a fake. */
export interface Trainer extends Omit<TrainerWorkerApi, 'deviceLost' | 'residualLevels'> {
  /** The worker's residualLevels; a fake without it: the page hashes the residuals on its own thread. */
  residualLevels?: TrainerWorkerApi['residualLevels'];
  /** Called once if the device is lost or the worker dies. */
  onLost(fn: (loss: DeviceLoss) => void): void;
  terminate(): void;
}

/** The worker throws SerializedError (trainer.worker.ts): back into the kernel error classes. */
const revive = (e: unknown): never => {
  throw isSerializedError(e) ? reviveKernelError(e) : e;
};

export class GpuTrainer implements Trainer {
  private readonly worker: Worker;
  private readonly remote: Comlink.Remote<TrainerWorkerApi>;
  private lostFn: ((loss: DeviceLoss) => void) | null = null;
  private lost: DeviceLoss | null = null;
  private watching = false;

  constructor(worker: Worker = new Worker(new URL('../../worker/trainer.worker.ts', import.meta.url), { type: 'module', name: 'idlegrad-trainer' })) {
    this.worker = worker;
    this.remote = Comlink.wrap<TrainerWorkerApi>(worker);
    worker.addEventListener('error', (ev) => this.markLost({ reason: 'worker-error', message: ev.message || 'the training worker failed to load or crashed' }));
  }

  private markLost(loss: DeviceLoss): void {
    if (this.lost) return;
    this.lost = loss;
    this.lostFn?.(loss);
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    this.remote.deviceLost().then(
      (loss) => this.markLost(loss),
      () => undefined, // the worker was terminated
    );
  }

  async probe(): Promise<AdapterInfo> {
    const info = await this.remote.probe().catch(revive);
    this.watch();
    return info;
  }

  async init(sizes: number[], batchSize: number, gpt?: GptDims): Promise<AdapterInfo> {
    const info = await this.remote.init(sizes, batchSize, gpt).catch(revive);
    this.watch();
    return info;
  }

  setData(data: Dataset): Promise<void> {
    const buffers = [...new Set([data.images.buffer, data.labels.buffer])] as ArrayBuffer[];
    return this.remote.setData(Comlink.transfer(data, buffers)).catch(revive);
  }

  train(args: TrainArgs): Promise<TrainResult> {
    const state = args.state ? [args.state.m.buffer, args.state.v.buffer] : [];
    const buffers = [...new Set([args.params.buffer, args.batches.buffer, args.residual.buffer, ...state])] as ArrayBuffer[];
    return this.remote.train(Comlink.transfer(args, buffers)).catch(revive);
  }

  aggregate(args: AggregateArgs): Promise<CohortAggregate> {
    return this.remote.aggregate(args).catch(revive);
  }

  residualLevels(values: Float32Array): Promise<Uint8Array[]> {
    return this.remote.residualLevels(Comlink.transfer(values, [values.buffer as ArrayBuffer])).catch(revive);
  }

  benchmark(steps?: number): Promise<BenchmarkResult> {
    return this.remote.benchmark(steps).catch(revive);
  }

  useCpu(): Promise<void> {
    return this.remote.useCpu().catch(revive);
  }

  limits(): Promise<Record<string, number> | null> {
    return this.remote.limits().catch(revive);
  }

  abort(): Promise<AbortReport | null> {
    return this.remote.abort().catch(revive);
  }

  setThrottle(t: Throttle): Promise<void> {
    return this.remote.setThrottle(t).catch(revive);
  }

  onLost(fn: (loss: DeviceLoss) => void): void {
    this.lostFn = fn;
    if (this.lost) fn(this.lost);
  }

  terminate(): void {
    this.remote[Comlink.releaseProxy]();
    this.worker.terminate();
  }
}
