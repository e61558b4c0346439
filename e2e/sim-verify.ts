// `tsx e2e/sim-verify.ts [--json] [--peers N] [--rounds N] [--steps N] [--cheaters N]`
// (wired as `npm run sim -- --verify` by e2e/sim.ts)
//
// Measures spot-check verification with the real validator code (coordinator/verify/checks.ts:
// `samplingRate`, `checkContribution`, `FAIL_PENALTY`, the run's verification settings):
//
// Phase A, steady-state cost. `peers` honest identities train the MNIST MLP with the CPU
// reference, compress with the real codec and error feedback, and are sampled with the
// adaptive-replication policy every round; the mean of their frames takes the outer step.
// computeFraction = validator CPU ms / training CPU ms over the rounds after every
// identity has passed `trustAfter` checks (the warm-up is reported apart).
//
// Phase B, detection. `cheaters` fresh identities of each kind join the trained
// population and cheat on every contribution, for at most `horizon` contributions:
//   lazy           an all-zero update (empty frame), zero residuals
//   random         C(noise) scaled like an honest update, consistent residuals
//   fewer-samples  trains ⌊steps/2⌋ steps, claims `steps` (and steps × batch samples)
//   stale          trains honestly, but from the model of `staleRounds` rounds ago
//   copycat        resubmits an honest peer's frame and residuals of this round, byte for byte
// A kind's detectionRate is the fraction of its cheaters with a failed check within the
// horizon; meanContributionsToDetect the mean index (1-based) of the first failed one.
// With --json the last line is { "verification": { computeFraction, cheaters: [...] , ... } }.
import { cliOutput, numberOption, parseCli, runCli, type CliOption, type CliSpec } from '../shared/cli.ts';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { Address } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { loadMnist } from '../coordinator/data/index.ts';
import { decodeFrame, encodeUpdate, hashFrame, toDense } from '../shared/codec.ts';
import { aggregateLimits } from '../shared/round.ts';
import { DEFAULT_RUN, runSpecOf, type RunSettings, type RunSpec } from '../shared/config.ts';
import { trainLocalCpu, evaluate, type Dataset } from '../shared/mlp.ts';
import { initParams, mlpSpec } from '../shared/model.ts';
import { applyOuterStep } from '../shared/outer.ts';
import { assignmentIndices, assignmentSeed } from '../shared/assignment.ts';
import { createRng, gaussian } from '../shared/rng.ts';
import { checkContribution, FAIL_PENALTY, samplingRate, verificationOf, type CheckResult } from '../coordinator/verify/index.ts';
import { residualCommitment } from '../shared/wire/index.ts';

export const CHEATER_KINDS = ['lazy', 'random', 'fewer-samples', 'stale', 'copycat'] as const;
export type CheaterKind = (typeof CHEATER_KINDS)[number];

export interface VerifySimOptions {
  peers?: number;
  rounds?: number;
  steps?: number;
  /** Cheaters per kind. */
  cheaters?: number;
  /** Most contributions a cheater makes before the simulation gives up on it. */
  horizon?: number;
  staleRounds?: number;
  seed?: number;
  run?: Partial<RunSettings>;
  log?: (line: string) => void;
}

export interface VerifySimResult {
  verification: {
    computeFraction: number;
    cheaters: { kind: CheaterKind; detectionRate: number; meanContributionsToDetect: number }[];
    /** rate × (mean check ms / mean training ms): the long-run value the measurement estimates. */
    expectedComputeFraction: number;
    /** Validator ms / training ms during the warm-up (every identity new). */
    warmupComputeFraction: number;
    honestChecks: number;
    /** Checks and contributions in the steady-state window (the computeFraction's sample). */
    steadyChecks: number;
    steadyContributions: number;
    honestFalseRejections: number;
    /** Largest relative errors an honest contribution showed (the tolerance's margin). */
    honestMax: { relDelta: number; relFrame: number };
    /** Smallest relative work error a cheater showed, per kind. */
    cheaterMinRelDelta: Record<string, number | null>;
    heldOutAccuracy: number;
    settings: ReturnType<typeof verificationOf>;
    peers: number;
    rounds: number;
    steps: number;
  };
}

interface Identity {
  address: Address;
  checksPassed: number;
  reputation: number;
  residual: Float32Array;
}

interface Produced {
  frame: Uint8Array;
  before: Float32Array;
  after: Float32Array;
  samples: number;
  steps: number;
  trainMs: number;
}

export async function runVerifySim(opts: VerifySimOptions = {}): Promise<VerifySimResult> {
  const log = opts.log ?? (() => {});
  const peers = opts.peers ?? 32;
  const rounds = opts.rounds ?? 24;
  const steps = opts.steps ?? 25;
  const perKind = opts.cheaters ?? 20;
  const horizon = opts.horizon ?? 10;
  const staleRounds = opts.staleRounds ?? 3;
  const { train, test } = loadMnist();
  const run: RunSpec = runSpecOf(
    1,
    { ...DEFAULT_RUN, ...opts.run, inner: { ...DEFAULT_RUN.inner, steps }, verification: { heldOutSamples: 128, ...opts.run?.verification } },
    {
      name: 'mnist',
      trainCount: train.count,
      testCount: test.count,
      features: train.features,
      classes: train.classes,
    },
  );
  const v = verificationOf(run);
  const spec = mlpSpec(run.sizes);
  const B = run.inner.batchSize;
  const rand = createRng(opts.seed ?? 12345);
  const limits = (round: number) => aggregateLimits(run, round);
  const keyOf = (i: number) => privateKeyToAddress(`0x${(0x1000 + i).toString(16).padStart(64, '0')}`).toLowerCase() as Address;

  let theta = initParams(spec, run.seed);
  const momentum = new Float32Array(theta.length);
  const history: Float32Array[] = [theta.slice()];
  let trainMs = 0;
  let checkMs = 0;

  /** One contribution's local work from `start` on the identity's assignment, with error feedback. */
  const produce = (id: Identity, round: number, start: Float32Array, trainSteps: number, claimedSteps = trainSteps): Produced => {
    const t0 = performance.now();
    const idx = assignmentIndices(assignmentSeed(run.seed, round, id.address), trainSteps, B, run.dataset.trainCount);
    const batches = Array.from({ length: trainSteps }, (_, s) => idx.subarray(s * B, (s + 1) * B));
    const local = trainLocalCpu(spec, start, train, batches, run.inner.adamw).params;
    const before = id.residual;
    const vec = new Float32Array(theta.length);
    for (let i = 0; i < vec.length; i++) vec[i] = start[i] - local[i] + before[i];
    const { bytes, residual } = encodeUpdate(vec, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round, samples: claimedSteps * B });
    id.residual = residual;
    return { frame: bytes, before, after: residual, samples: claimedSteps * B, steps: claimedSteps, trainMs: performance.now() - t0 };
  };

  /** Sample with the real policy; check with the real code; update reputation as the ledger does. */
  const maybeCheck = (id: Identity, round: number, p: Produced): CheckResult | null => {
    if (rand() >= samplingRate(id, v)) return null;
    const r = checkContribution(
      run,
      v,
      history[round],
      train,
      test,
      {
        account: id.address,
        round,
        frameHash: hashFrame(p.frame),
        residualHash: residualCommitment(p.before, p.after),
        samples: p.samples,
        steps: p.steps,
      },
      { frame: p.frame, residualBefore: p.before, residualAfter: p.after },
    );
    checkMs += r.detail.ms;
    if (r.passed) {
      id.checksPassed++;
      id.reputation += 1;
    } else id.reputation -= FAIL_PENALTY;
    return r;
  };

  // ---- phase A: honest population, steady-state cost ----------------------------------
  const honest: Identity[] = Array.from({ length: peers }, (_, i) => ({
    address: keyOf(i),
    checksPassed: 0,
    reputation: 0,
    residual: new Float32Array(theta.length),
  }));
  let honestChecks = 0;
  let honestFalse = 0;
  const honestMax = { relDelta: 0, relFrame: 0 };
  let steady: { train: number; check: number; checks: number; round: number } | null = null;
  let warmup = { train: 0, check: 0 };
  let lastFrames: Produced[] = [];
  const commitRound = (round: number, frames: Produced[]) => {
    const mean = new Float32Array(theta.length);
    for (const p of frames) {
      const d = toDense(decodeFrame(p.frame, limits(round)));
      for (let i = 0; i < mean.length; i++) mean[i] += d[i] / frames.length;
    }
    applyOuterStep(theta, momentum, mean, run.outer, round);
    history.push(theta.slice());
  };
  for (let round = 0; round < rounds; round++) {
    if (!steady && honest.every((h) => h.checksPassed >= v.trustAfter)) {
      warmup = { train: trainMs, check: checkMs };
      steady = { train: trainMs, check: checkMs, checks: honestChecks, round };
      log(`round ${round}: every identity trusted; steady state from here`);
    }
    const frames = honest.map((h) => produce(h, round, theta, steps));
    trainMs += frames.reduce((s, p) => s + p.trainMs, 0);
    honest.forEach((h, i) => {
      const r = maybeCheck(h, round, frames[i]);
      if (!r) return;
      honestChecks++;
      if (!r.passed) {
        honestFalse++;
        log(`honest ${h.address.slice(0, 8)} rejected in round ${round}: ${r.rejection.code}: ${r.rejection.prose}`);
      }
      honestMax.relDelta = Math.max(honestMax.relDelta, r.detail.relDelta ?? 0);
      honestMax.relFrame = Math.max(honestMax.relFrame, r.detail.relFrame ?? 0);
    });
    lastFrames = frames;
    commitRound(round, frames);
  }
  if (!steady) throw new Error(`no steady state within ${rounds} rounds: raise --rounds above trustAfter (${v.trustAfter}) / newIdentityRate`);
  const computeFraction = (checkMs - steady.check) / Math.max(trainMs - steady.train, 1e-9);
  const warmupComputeFraction = warmup.check / Math.max(warmup.train, 1e-9);
  const heldOutAccuracy = evaluate(spec, theta, test).accuracy;
  const steadyChecksCount = honestChecks - steady.checks;
  const expectedComputeFraction = (v.rate * (checkMs / Math.max(honestChecks, 1))) / (trainMs / (rounds * peers));
  log(
    `phase A: ${peers} peers × ${rounds} rounds, ${honestChecks} honest checks, ${honestFalse} false rejections, computeFraction ${computeFraction.toFixed(4)}, accuracy ${(heldOutAccuracy * 100).toFixed(1)} %`,
  );

  // ---- phase B: cheaters join the trained population -----------------------------------
  // The honest peers keep training (one more round per cheater contribution index) so the
  // copycat has a fresh frame to copy and the stale cheater an old model to start from.
  // All cheaters of all kinds join at once and cheat on every contribution; each phase-B
  // round the honest peers train first (the copycat copies one of their frames of this very
  // round), then every cheater still undetected contributes, then the round commits.
  const cheaters = CHEATER_KINDS.flatMap((kind, k) =>
    Array.from({ length: perKind }, (_, c) => ({
      kind,
      c,
      detectedAt: 0,
      minRel: null as number | null,
      id: { address: keyOf(10_000 + k * 1000 + c), checksPassed: 0, reputation: 0, residual: new Float32Array(theta.length) } as Identity,
    })),
  );
  for (let n = 1; n <= horizon && cheaters.some((x) => !x.detectedAt); n++) {
    const round = history.length - 1;
    lastFrames = honest.map((h) => produce(h, round, theta, steps));
    for (const x of cheaters) {
      if (x.detectedAt) continue;
      let p: Produced;
      switch (x.kind) {
        case 'lazy': {
          const zero = new Float32Array(theta.length);
          const { bytes } = encodeUpdate(zero, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round, samples: steps * B });
          p = { frame: bytes, before: zero, after: zero, samples: steps * B, steps, trainMs: 0 };
          break;
        }
        case 'random': {
          const noise = new Float32Array(theta.length).map(() => 1e-3 * gaussian(rand));
          const before = x.id.residual;
          for (let i = 0; i < noise.length; i++) noise[i] += before[i];
          const { bytes, residual } = encodeUpdate(noise, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round, samples: steps * B });
          x.id.residual = residual;
          p = { frame: bytes, before, after: residual, samples: steps * B, steps, trainMs: 0 };
          break;
        }
        case 'fewer-samples':
          p = produce(x.id, round, theta, Math.max(1, Math.floor(steps / 2)), steps);
          break;
        case 'stale':
          p = produce(x.id, round, history[Math.max(0, round - staleRounds)], steps);
          break;
        case 'copycat':
          p = { ...lastFrames[(x.c + n) % lastFrames.length], trainMs: 0 };
          break;
      }
      const r = maybeCheck(x.id, round, p);
      if (r && !r.passed) {
        x.detectedAt = n;
        if (r.detail.relDelta !== undefined) x.minRel = r.detail.relDelta;
      }
    }
    commitRound(round, lastFrames);
  }
  const cheaterMinRelDelta: Record<string, number | null> = {};
  const perKindStats = CHEATER_KINDS.map((kind) => {
    const mine = cheaters.filter((x) => x.kind === kind);
    const detected = mine.filter((x) => x.detectedAt > 0);
    const rels = detected.map((x) => x.minRel).filter((r): r is number => r !== null);
    cheaterMinRelDelta[kind] = rels.length ? Math.min(...rels) : null;
    const stats = {
      kind,
      detectionRate: detected.length / mine.length,
      meanContributionsToDetect: detected.length ? detected.reduce((s, x) => s + x.detectedAt, 0) / detected.length : Infinity,
    };
    log(
      `${kind}: detected ${detected.length}/${mine.length}, mean contributions to detect ${stats.meanContributionsToDetect.toFixed(2)}, smallest work error ${cheaterMinRelDelta[kind] === null ? 'n/a' : (cheaterMinRelDelta[kind]! * 100).toFixed(1) + ' %'}`,
    );
    return stats;
  });

  return {
    verification: {
      computeFraction,
      cheaters: perKindStats,
      expectedComputeFraction,
      warmupComputeFraction,
      honestChecks,
      steadyChecks: steadyChecksCount,
      steadyContributions: (rounds - steady.round) * peers,
      honestFalseRejections: honestFalse,
      honestMax,
      cheaterMinRelDelta,
      heldOutAccuracy,
      settings: v,
      peers,
      rounds,
      steps,
    },
  };
}

export function verifyAcceptance(r: VerifySimResult): string[] {
  const out: string[] = [];
  if (!(r.verification.computeFraction <= 0.05)) out.push(`computeFraction ${r.verification.computeFraction} > 0.05`);
  for (const c of r.verification.cheaters) {
    if (!(c.detectionRate >= 0.99)) out.push(`${c.kind}: detectionRate ${c.detectionRate} < 0.99`);
    if (!(c.meanContributionsToDetect <= 5)) out.push(`${c.kind}: meanContributionsToDetect ${c.meanContributionsToDetect} > 5`);
  }
  if (r.verification.honestFalseRejections > 0) out.push(`${r.verification.honestFalseRejections} honest contributions rejected`);
  return out;
}

export const SIM_VERIFY_CLI = {
  command: 'npm run sim -- --verify',
  summary: `Spot-check verification measurements: validator compute against training compute, and how fast each
kind of cheater is detected. Exits 1 when a figure misses its acceptance bar.`,
  options: {
    json: { type: 'boolean', help: 'stdout holds only the result as one JSON object' },
    peers: { type: 'string', arg: 'N', help: 'peers' },
    rounds: { type: 'string', arg: 'N', help: 'rounds' },
    steps: { type: 'string', arg: 'N', help: 'inner steps a round' },
    cheaters: { type: 'string', arg: 'N', help: 'cheaters of each kind' },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

/** `npm run sim -- --verify` (argv without --verify): resolves to the acceptance bars it missed. */
export async function verifySimMain(argv: string[]): Promise<string[]> {
  const values = parseCli(SIM_VERIFY_CLI, argv);
  const out = cliOutput(!!values.json);
  const int = (name: string) => numberOption(values, name, { min: 1, integer: true });
  const result = await runVerifySim({
    peers: int('peers'),
    rounds: int('rounds'),
    steps: int('steps'),
    cheaters: int('cheaters'),
    log: out.progress,
  });
  const failures = verifyAcceptance(result);
  const v = result.verification;
  out.summary(
    `\nvalidator compute / training compute at steady state: ${(v.computeFraction * 100).toFixed(2)} % (warm-up ${(v.warmupComputeFraction * 100).toFixed(1)} %)`,
  );
  for (const c of v.cheaters)
    out.summary(
      `  ${c.kind.padEnd(14)} detection ${(c.detectionRate * 100).toFixed(1)} %  mean contributions to detect ${c.meanContributionsToDetect.toFixed(2)}`,
    );
  out.summary(failures.length ? `FAILED: ${failures.join('; ')}` : 'acceptance: pass');
  out.json(result);
  return failures;
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) runCli(SIM_VERIFY_CLI, () => verifySimMain(process.argv.slice(2)));
