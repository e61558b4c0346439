// DeviceHost before consent: the run's needs against the device's limits, and the profile
// benchmarks the run's own model (a GPT run's GPT, not the default MLP). A fake trainer records
// what it was asked to build; no GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESET_DEFAULTS, runSpecOf, type RunSettings, type RunSpec } from '../../../shared/config.ts';
import type { GptDims } from '../../../shared/model.ts';
import type { RunInfo } from '../../../shared/wire/index.ts';
import { adaptiveSteps } from '../../../shared/round.ts';
import { DeviceHost } from './device.ts';
import { DEFAULT_GOVERNANCE } from './governance.ts';
import type { Governor } from './governor.ts';
import { initialSnapshot, SnapshotStore } from './snapshot.ts';
import type { Trainer } from './trainer.ts';

const MiB = 2 ** 20;
const TEXT: RunSpec['dataset'] = { name: 'text', text: 'ef'.repeat(32), trainCount: 400, testCount: 20, features: 0, classes: 256 };

function runOf(settings: RunSettings): RunSpec {
  const context = { ...(settings.gpt ?? {}) }.context ?? 64;
  return runSpecOf(5, settings, { ...TEXT, features: context + 1 });
}

function host(run: RunSpec, limits: Record<string, number>, o: { benchmarkFails?: boolean } = {}) {
  const inits: { sizes: number[]; batch: number; gpt?: GptDims }[] = [];
  let benchmarks = 0;
  let dataSet = false;
  const trainer = {
    probe: async () => ({ vendor: 'test', architecture: 'fake', description: '' }),
    useCpu: async () => {},
    init: async (sizes: number[], batch: number, gpt?: GptDims) => {
      inits.push({ sizes, batch, gpt });
      return { vendor: 'test', architecture: 'fake', description: '' };
    },
    setData: async () => {
      dataSet = true;
    },
    benchmark: async () => {
      benchmarks++;
      if (o.benchmarkFails && inits.at(-1)?.gpt) throw new Error('pipeline compile failed');
      return { gflops: 2, samplesPerSec: inits.at(-1)?.gpt ? 0.5 : 900 };
    },
    limits: async () => limits,
    onLost: () => {},
    terminate: () => {},
  } as unknown as Trainer;
  const store = new SnapshotStore(initialSnapshot({ storage: { persistent: false, reason: null }, partner: null, governance: DEFAULT_GOVERNANCE }));
  const info = { run, round: 0, modelHash: `0x${'0'.repeat(64)}`, chain: {} } as unknown as RunInfo;
  const device = new DeviceHost({
    createTrainer: () => trainer,
    hasWebGpu: true,
    locks: null,
    api: {
      run: async () => info,
      trainData: async (shape: { count: number; features: number; classes: number }) => ({
        ...shape,
        images: new Uint8Array(shape.count * shape.features),
        labels: new Uint8Array(shape.count),
      }),
    },
    storage: { getDataset: async () => undefined, putDataset: async () => {} },
    store,
    governor: { update: () => {} } as unknown as Governor,
    onLost: () => {},
    adapterLimits: async () => limits,
  });
  return { device, store, inits, benchmarks: () => benchmarks, dataSet: () => dataSet };
}

const roomy = { maxStorageBufferBindingSize: 1024 * MiB, maxBufferSize: 1024 * MiB };

test("the profile benchmarks a GPT run's own GPT at the run's batch, and shows what the run needs", async () => {
  const run = runOf(PRESET_DEFAULTS['gpt-micro']);
  const h = host(run, roomy);
  const estimate = await h.device.profile();
  assert.ok(estimate, h.store.get().profile.message ?? 'no estimate');
  const last = h.inits.at(-1)!;
  assert.deepEqual([last.gpt, last.batch], [run.gpt, run.inner.batchSize], 'the run model, not the MLP');
  assert.equal(h.store.get().profile.samplesPerSec, 0.5);
  assert.deepEqual(h.store.get().profile.needs, run.needs);
  assert.equal(h.store.get().profile.status, 'done');
});

test('a run that needs more than the device offers is said so plainly, before any trainer for it is built or benchmarked', async () => {
  const run = runOf({ ...PRESET_DEFAULTS['gpt-micro'], gpt: { context: 1024 }, inner: { ...PRESET_DEFAULTS['gpt-micro'].inner, batchSize: 4096 } });
  const h = host(run, roomy);
  assert.equal(await h.device.checkFit(), false);
  const p = h.store.get().profile;
  assert.equal(p.status, 'unfit');
  assert.equal(h.store.get().gpu.status, 'idle', 'checking the fit acquires no device');
  assert.match(
    p.message!,
    /^This device cannot join run 5 "gpt-micro": the run binds a 4096 MiB buffer and this GPU binds at most 1024 MiB \(maxStorageBufferBindingSize\)/,
  );
  assert.equal(p.shortfalls.length, 2);
  const before = h.inits.length;
  assert.equal(await h.device.profile(), null);
  assert.equal(h.store.get().profile.status, 'unfit');
  assert.ok(
    h.inits.every((i) => !i.gpt),
    'no GPT trainer was built for a run that does not fit',
  );
  assert.equal(h.inits.length, before + 1, 'only the default benchmark of ensure()');
  await assert.rejects(h.device.initFor(run), /cannot join run 5/);
});

test('a run that fits leaves the profile alone before consent', async () => {
  const h = host(runOf(PRESET_DEFAULTS['gpt-small']), { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB });
  assert.equal(await h.device.checkFit(), true);
  assert.equal(h.store.get().profile.status, 'idle');
  const tight = host(runOf(PRESET_DEFAULTS['gpt-base']), { maxStorageBufferBindingSize: 64 * MiB, maxBufferSize: 256 * MiB });
  assert.equal(await tight.device.checkFit(), false, "gpt-base's 98 MiB θ does not bind under 64 MiB");
});

test("before the page is ready, the run's own model is warmed up and its pace (at the duty) is what round 0's adaptive steps read", async () => {
  const run = runOf(PRESET_DEFAULTS['gpt-small']);
  const h = host(run, roomy);
  assert.equal(h.store.get().samplesPerSec, null, 'no pace before any round');
  await h.device.prepareFor(run);
  assert.ok(h.dataSet(), 'the training set is in the worker');
  assert.deepEqual(h.inits.at(-1)!.gpt, run.gpt, "the benchmark ran on the run's GPT, not the default MLP");
  assert.equal(h.benchmarks(), 2, "ensure's default benchmark, then one warm-up on the run's model");
  // The fake's GPT benchmark: 0.5 samples/s; the default governance preset runs at duty 0.5.
  assert.equal(h.store.get().samplesPerSec, 0.25);
  // Round 0 then trains what fits its window: gpt-small at batch 4 and 0.25 samples/s is 16 s a step.
  const msPerStep = (1000 * run.inner.batchSize) / h.store.get().samplesPerSec!;
  assert.equal(adaptiveSteps(run.inner.steps, 100_000, msPerStep), 6);
  await h.device.prepareFor(run);
  assert.equal(h.benchmarks(), 2, 'once per model shape');
});

test('a failed warm-up is logged and does not keep the page from its rounds', async () => {
  const run = runOf(PRESET_DEFAULTS['gpt-micro']);
  const h = host(run, roomy, { benchmarkFails: true });
  await h.device.prepareFor(run);
  assert.equal(h.store.get().samplesPerSec, null, 'no pace is made up');
  assert.match(h.store.get().log.at(-1)?.text ?? '', /warm-up skipped: .*pipeline compile failed/);
});
