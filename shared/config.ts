// The run specification: everything peers must agree on to train one model together.
// It is public (sent in `welcome`) and validated with the failing keypath in the message.
import type { Hex } from 'viem';
import type { CodecConfig } from './codec.ts';
import type { AggregatorConfig } from './aggregate.ts';
import type { OuterConfig } from './outer.ts';
import type { AdamWConfig } from './mlp.ts';
import { mlpSpec, paramTableHash, type MlpSpec } from './model.ts';

export interface RunSettings {
  name: string;
  preset: 'mlp';
  /** MLP widths, input first. */
  sizes: number[];
  /** Seeds the initial weights and the data assignment. */
  seed: number;
  inner: { steps: number; batchSize: number; adamw: AdamWConfig };
  outer: OuterConfig;
  codec: CodecConfig;
  aggregator: AggregatorConfig;
  /** Peers per cohort. */
  cohortSize: number;
  /** Round phases in milliseconds from the round's start. */
  timing: { trainMs: number; exchangeMs: number; reportMs: number };
  /** Rounds do not start until this many volunteers are ready. */
  minVolunteers: number;
  /** The run ends after this many committed rounds; 0 trains until stopped. */
  maxRounds: number;
  rewards: { epochRounds: number; weiPerSample: string };
}

export interface RunSpec extends RunSettings {
  id: number;
  paramTableHash: Hex;
  paramCount: number;
  dataset: { name: 'mnist'; trainCount: number; testCount: number; features: number; classes: number };
}

/** Defaults: a 784-64-10 MLP on MNIST, sized for CPU WebGPU (SwiftShader) volunteers. */
export const DEFAULT_RUN: RunSettings = {
  name: 'mnist-mlp',
  preset: 'mlp',
  sizes: [784, 64, 10],
  seed: 1,
  inner: { steps: 100, batchSize: 32, adamw: { lr: 0.003, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.0 } },
  outer: { lr: 0.7, momentum: 0.9 },
  codec: { density: 0.05, bits: 8, chunkSize: 4096 },
  aggregator: { kind: 'clipped-mean', clip: 3 },
  cohortSize: 8,
  timing: { trainMs: 20_000, exchangeMs: 8_000, reportMs: 5_000 },
  minVolunteers: 1,
  maxRounds: 0,
  rewards: { epochRounds: 3, weiPerSample: '1000000000000000' },
};

export function modelOf(run: Pick<RunSpec, 'sizes'>): MlpSpec {
  return mlpSpec(run.sizes);
}

type Check = (v: unknown) => string | undefined;
const num = (min: number, max: number, int = false): Check => (v) =>
  typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))
    ? `expected ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`
    : undefined;

/** Validate settings; the error names the keypath, e.g. `run.codec.density`. */
export function validateRunSettings(s: RunSettings, path = 'run'): RunSettings {
  const checks: [string, unknown, Check][] = [
    ['inner.steps', s.inner?.steps, num(1, 10_000, true)],
    ['inner.batchSize', s.inner?.batchSize, num(1, 4096, true)],
    ['inner.adamw.lr', s.inner?.adamw?.lr, num(0, 1)],
    ['outer.lr', s.outer?.lr, num(0, 10)],
    ['outer.momentum', s.outer?.momentum, num(0, 0.999)],
    ['codec.density', s.codec?.density, num(1e-4, 1)],
    ['codec.bits', s.codec?.bits, (v) => (v === 8 || v === 32 ? undefined : `expected 8 or 32, got ${JSON.stringify(v)}`)],
    ['codec.chunkSize', s.codec?.chunkSize, num(16, 65536, true)],
    ['cohortSize', s.cohortSize, num(1, 64, true)],
    ['timing.trainMs', s.timing?.trainMs, num(100, 3_600_000, true)],
    ['timing.exchangeMs', s.timing?.exchangeMs, num(100, 3_600_000, true)],
    ['timing.reportMs', s.timing?.reportMs, num(100, 3_600_000, true)],
    ['minVolunteers', s.minVolunteers, num(1, 100_000, true)],
    ['maxRounds', s.maxRounds, num(0, 1e9, true)],
    ['rewards.epochRounds', s.rewards?.epochRounds, num(1, 1_000_000, true)],
    ['rewards.weiPerSample', s.rewards?.weiPerSample, (v) => (typeof v === 'string' && /^[0-9]{1,30}$/.test(v) ? undefined : `expected a decimal wei string, got ${JSON.stringify(v)}`)],
  ];
  for (const [key, value, check] of checks) {
    const msg = check(value);
    if (msg) throw new Error(`${path}.${key}: ${msg}`);
  }
  mlpSpec(s.sizes);
  return s;
}

export function runSpecOf(id: number, settings: RunSettings, dataset: RunSpec['dataset']): RunSpec {
  validateRunSettings(settings);
  const spec = mlpSpec(settings.sizes);
  return { ...settings, id, paramTableHash: paramTableHash(spec), paramCount: spec.paramCount, dataset };
}

/** Most samples one report may claim in a round. */
export const maxSamplesPerReport = (run: RunSettings) => run.inner.steps * run.inner.batchSize;
