// The compute device as the page holds it: the trainer (WebGPU, or the CPU path said plainly),
// its model shape and training set, the Web Lock that keeps one trainer per browser, and
// the device profile measured before joining.
import { DEFAULT_RUN, modelOf, type RunSpec } from '../../../shared/config.ts';
import { deviceNeeds, deviceShortfalls, type DeviceNeeds } from '../../../shared/device-needs.ts';
import type { GptDims } from '../../../shared/model.ts';
import { trainShape, type AdapterInfo } from '../../../shared/wire/index.ts';
import { WebGpuUnavailableError } from '../../../kernels/errors.ts';
import type { CoordinatorApi } from './api.ts';
import { describeError } from './errors.ts';
import { estimateContribution, type ContributionEstimate } from './estimate.ts';
import { DUTY_PRESETS, SOFTWARE_ADAPTER } from './governance.ts';
import type { Governor } from './governor.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage } from './storage.ts';
import type { Trainer } from './trainer.ts';

/** The Web Lock that keeps one trainer per browser profile. */
export const TRAINER_LOCK = 'idlegrad-trainer';

export interface DeviceOptions {
  createTrainer: () => Trainer;
  /** Whether this page has navigator.gpu (default: looked up); without it the worker trains on the CPU. */
  hasWebGpu?: boolean;
  /** Web Locks (navigator.locks by default); null where the browser has none. */
  locks?: LockManager | null;
  api: Pick<CoordinatorApi, 'run' | 'trainData'>;
  storage: Pick<ClientStorage, 'getDataset' | 'putDataset'>;
  store: SnapshotStore;
  governor: Governor;
  /** The device was lost (or the worker died): the trainer is gone. */
  onLost: (reason: string, message: string) => void;
  /**
   * The adapter's limits without a device (no compute): navigator.gpu.requestAdapter()'s by
   * default; null where there is no WebGPU. Read before consent to tell whether the run fits.
   */
  adapterLimits?: () => Promise<Record<string, number> | null>;
}

/** The limits a run's needs are checked against, read from an adapter (no device is created). */
async function navigatorAdapterLimits(): Promise<Record<string, number> | null> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  const adapter = await gpu?.requestAdapter();
  if (!adapter) return null;
  return { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize };
}

/** Why this device cannot join `run`, in one sentence for the volunteer. */
export function unfitMessage(run: Pick<RunSpec, 'id' | 'name'>, needs: DeviceNeeds, shortfalls: string[]): string {
  return `This device cannot join run ${run.id} "${run.name}": ${shortfalls.join('; ')}. The run needs ${Math.ceil(needs.totalBytes / 2 ** 20)} MiB of GPU memory in all; try a device with a larger GPU.`;
}

export class DeviceHost {
  trainer: Trainer | null = null;
  private shape: string | null = null;
  /** The model shape warmUp last measured. */
  private warmedFor: string | null = null;
  private dataLoadedFor: string | null = null;
  private releaseLock: (() => void) | null = null;

  constructor(private readonly o: DeviceOptions) {}

  /** The trainer, created, probed and benchmarked on first use. */
  async ensure(): Promise<Trainer> {
    if (this.trainer) return this.trainer;
    const { store } = this.o;
    store.set({ gpu: { ...store.get().gpu, status: 'probing', message: null } });
    const trainer = this.o.createTrainer();
    let adapter: AdapterInfo | null = null;
    try {
      const hasWebGpu = this.o.hasWebGpu ?? (typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu);
      if (!hasWebGpu) throw new WebGpuUnavailableError('navigator.gpu is missing');
      adapter = await trainer.probe();
    } catch (e) {
      if (!(e instanceof WebGpuUnavailableError)) {
        trainer.terminate();
        const message = `GPU setup failed: ${describeError(e)}`;
        store.set({ gpu: { status: 'unavailable', device: null, adapter: null, gflops: null, message } });
        throw new Error(message);
      }
      // No WebGPU: the CPU path, said plainly and credited as CPU work (hello's adapter is null).
      await trainer.useCpu();
      const message = `WebGPU is not available in this browser (${describeError(e)}). Training on the CPU instead: slower, and reported as CPU work.`;
      store.set({ gpu: { status: 'ready', device: 'cpu', adapter: null, gflops: null, message } });
      store.log('warn', message);
    }
    trainer.onLost((loss) => this.lost(loss.reason, loss.message));
    this.trainer = trainer;
    const software = !adapter || SOFTWARE_ADAPTER.test(`${adapter.vendor} ${adapter.architecture} ${adapter.description}`);
    if (software && store.get().governance.followPressure)
      store.log('info', 'training runs on the CPU here (no hardware GPU): CPU pressure is its own load, so it is not followed');
    this.o.governor.update({ softwareDevice: software });
    if (adapter) {
      store.set({ gpu: { status: 'ready', device: 'gpu', adapter, gflops: null, message: null } });
      store.log('info', `GPU: ${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' · ') || 'unnamed adapter'}`);
    }
    // A short measured benchmark for `hello`, on the default model shape until the run is known.
    try {
      await this.init(DEFAULT_RUN.sizes, DEFAULT_RUN.inner.batchSize);
      const b = await trainer.benchmark();
      store.set({ gpu: { ...store.get().gpu, gflops: b.gflops } });
      store.log('info', `benchmark: ${b.gflops.toFixed(3)} GFLOP/s, ${Math.round(b.samplesPerSec)} samples/s`);
    } catch (e) {
      store.log('warn', `benchmark skipped: ${describeError(e)}`);
    }
    return trainer;
  }

  /**
   * Before consent, with no device and no compute: does the current run fit this adapter's
   * limits? A run that does not is shown (profile status 'unfit') with the reasons; one that
   * fits leaves the profile as it was. Failures are logged and change nothing.
   */
  async checkFit(): Promise<boolean> {
    const { store } = this.o;
    try {
      const [{ run }, limits] = await Promise.all([this.o.api.run(), (this.o.adapterLimits ?? navigatorAdapterLimits)()]);
      store.set({ offer: { preset: run.preset, paramCount: run.paramCount } });
      if (!limits) return true;
      const needs = deviceNeeds(modelOf(run), run.inner, run.dataset);
      const shortfalls = deviceShortfalls(needs, limits);
      if (!shortfalls.length) return true;
      if (store.get().profile.status === 'measuring') return false;
      const settings = { id: run.id, inner: run.inner, timing: run.timing, rewards: run.rewards };
      const message = unfitMessage(run, needs, shortfalls);
      store.set({ profile: { status: 'unfit', samplesPerSec: null, limits, run: settings, estimate: null, needs, shortfalls, message } });
      store.log('warn', message);
      return false;
    } catch (e) {
      store.log('warn', `could not check whether this device fits the run: ${describeError(e)}`);
      return true;
    }
  }

  /**
   * The trainer for `run`'s model and batch, once its needs are checked against the device's
   * limits: a run that cannot fit is refused here with the reasons, before any buffer is made.
   */
  async initFor(run: RunSpec): Promise<void> {
    const model = modelOf(run);
    const limits = await this.trainer!.limits();
    const needs = deviceNeeds(model, run.inner, run.dataset);
    const shortfalls = limits ? deviceShortfalls(needs, limits) : [];
    if (shortfalls.length) throw new Error(unfitMessage(run, needs, shortfalls));
    await this.init(run.sizes, run.inner.batchSize, model.preset === 'gpt' ? model.dims : undefined);
  }

  /** Builds the trainer for a model shape (once per shape). */
  async init(sizes: number[], batchSize: number, gpt?: GptDims): Promise<void> {
    const shape = `${gpt ? JSON.stringify(gpt) : sizes.join('x')}/${batchSize}`;
    if (this.shape === shape) return;
    await this.trainer!.init(sizes, batchSize, gpt);
    this.shape = shape;
  }

  /** Everything the device needs before the page says it is ready for `run`'s rounds: the trainer for its model, its data, a warm-up. */
  async prepareFor(run: RunSpec): Promise<void> {
    await this.ensure();
    await this.initFor(run);
    await this.loadData(run);
    await this.warmUp();
  }

  /**
   * Before the page says it is ready (prepareFor): one benchmark step of the model
   * initFor built, at the run's batch on synthetic data. It compiles every pipeline and measures
   * this device's pace on the run's model, so the first round pays for neither and its adaptive
   * steps (round-runner.ts) fit the round's window: without it a gpt-small page on SwiftShader
   * compiled and trained its two round-0 steps past the deadline, and every round-0 report came
   * STALE_ROUND. The pace is the benchmark's samples/s at the governance preset's duty (the
   * governor idles the rest). Once per model shape; a failed warm-up is logged, the round goes on.
   */
  async warmUp(): Promise<void> {
    const { store } = this.o;
    if (!this.trainer || !this.shape || this.warmedFor === this.shape) return;
    try {
      const b = await this.trainer.benchmark();
      this.warmedFor = this.shape;
      const duty = DUTY_PRESETS[store.get().governance.preset];
      store.set({ samplesPerSec: b.samplesPerSec * duty });
      store.log(
        'info',
        `warmed up on the run's model: ${b.samplesPerSec.toPrecision(3)} samples/s, ${(b.samplesPerSec * duty).toPrecision(3)} at duty ${duty}`,
      );
    } catch (e) {
      store.log('warn', `warm-up skipped: ${describeError(e)}`);
    }
  }

  /** The run's training set in the worker: from the IndexedDB cache, else downloaded and cached. */
  async loadData(run: RunSpec): Promise<void> {
    const { store } = this.o;
    // A text run's key carries its text's id: two texts of one size are different data.
    const dataKey = `${run.dataset.name}${run.dataset.text ? `-${run.dataset.text.slice(0, 16)}` : ''}-train-${run.dataset.trainCount}x${run.dataset.features}`;
    if (this.dataLoadedFor === dataKey) return;
    const shape = trainShape(run.dataset);
    const cached = await this.o.storage.getDataset(dataKey).catch(() => undefined);
    let data;
    if (cached && cached.count === shape.count && cached.features === shape.features) {
      data = { ...cached, classes: shape.classes };
    } else {
      store.log('info', 'downloading the training set');
      data = await this.o.api.trainData(shape);
      await this.o.storage
        .putDataset({ name: dataKey, count: data.count, features: data.features, labels: data.labels, images: data.images })
        .catch((e) => store.log('warn', `could not cache the training set: ${describeError(e)}`));
    }
    await this.trainer!.setData(data);
    this.dataLoadedFor = dataKey;
    store.log('info', `training set ready: ${data.count} samples`);
  }

  /**
   * Device profile at join, on request (a button before consent): acquire the adapter, read its
   * limits, run the worker's short micro-benchmark (a few training steps on synthetic data) on
   * the run's model, and estimate contribution and credit per hour. No key, no connection.
   */
  async profile(): Promise<ContributionEstimate | null> {
    const { store } = this.o;
    if (store.get().profile.status === 'measuring') return null;
    store.set({ profile: { ...store.get().profile, status: 'measuring', message: null } });
    try {
      const { run } = await this.o.api.run();
      const trainer = await this.ensure();
      const limits = await trainer.limits();
      const settings = { id: run.id, inner: run.inner, timing: run.timing, rewards: run.rewards };
      // The run's needs against the device's limits first: a run that cannot fit is said so, not benchmarked.
      const needs = deviceNeeds(modelOf(run), run.inner, run.dataset);
      const shortfalls = limits ? deviceShortfalls(needs, limits) : [];
      if (shortfalls.length) {
        const message = unfitMessage(run, needs, shortfalls);
        store.set({ profile: { status: 'unfit', samplesPerSec: null, limits, run: settings, estimate: null, needs, shortfalls, message } });
        store.log('warn', message);
        return null;
      }
      await this.initFor(run);
      const b = await trainer.benchmark();
      const estimate = estimateContribution(settings, b.samplesPerSec, DUTY_PRESETS[store.get().governance.preset]);
      store.set({
        profile: { status: 'done', samplesPerSec: b.samplesPerSec, limits, run: settings, estimate, needs, shortfalls, message: null },
        gpu: { ...store.get().gpu, gflops: b.gflops },
      });
      store.log('info', `device profile: ${Math.round(b.samplesPerSec)} samples/s on run ${run.id}'s model; estimate ${estimate.samplesPerHour} samples/h`);
      return estimate;
    } catch (e) {
      const message = `could not measure this device: ${describeError(e)}`;
      store.set({ profile: { ...store.get().profile, status: 'failed', message } });
      store.log('error', message);
      return null;
    }
  }

  private lost(reason: string, message: string): void {
    this.trainer = null;
    this.shape = null;
    this.warmedFor = null;
    this.dataLoadedFor = null;
    this.o.onLost(reason, message);
  }

  /** One trainer per browser: hold a Web Lock while lending; another tab that holds it wins. */
  async takeLock(): Promise<boolean> {
    if (this.releaseLock) return true;
    const { store } = this.o;
    const locks = this.o.locks === undefined ? (globalThis.navigator?.locks ?? null) : this.o.locks;
    if (!locks) {
      store.log('warn', 'this browser has no Web Locks: other tabs cannot tell that this one is training');
      return true;
    }
    const got = await new Promise<boolean>((resolve) => {
      void locks
        .request(TRAINER_LOCK, { ifAvailable: true }, (lock) => {
          if (!lock) {
            resolve(false);
            return;
          }
          resolve(true);
          return new Promise<void>((release) => (this.releaseLock = release));
        })
        .catch((e: unknown) => {
          store.log('warn', `Web Locks failed (${describeError(e)}); going on without`);
          resolve(true);
        });
    });
    store.set({ otherTabTraining: !got });
    if (!got)
      store.log(
        'warn',
        'another tab of this browser is already training: only one trainer runs per device. Stop it there, or close it, then press Start here.',
      );
    return got;
  }

  dropLock(): void {
    this.releaseLock?.();
    this.releaseLock = null;
  }

  dispose(): void {
    this.dropLock();
    this.trainer?.terminate();
  }
}
