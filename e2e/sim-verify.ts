// `tsx e2e/sim-verify.ts [--json] [--peers N] [--rounds N] [--steps N] [--cheaters N] [--sleepers N]`
// (wired as `npm run sim -- --verify` by e2e/sim.ts)
//
// Measures spot-check verification and the credit rule with the coordinator's own code: the
// Validator (coordinator/verify: `samplingRate`, `checkContribution` on its re-execution
// thread with the CPU reference, FAIL_PENALTY, the ledger's reputation), the Ledger on PGlite
// in memory (vesting `vestsRoundOf`, clawback in `recordCheck`, epochs batching only vested
// credit), the epoch policy and Rewards building each epoch's tree (the chain is a stub that
// accepts every post), and decideRound's credit per sample (`creditWeiOf`). Every contribution
// is accepted (as a relay member's own frame would be): the spot check and the credit rule
// alone stand between a cheat and its pay, so the figures are an upper bound for a cheater.
//
// Phase A, steady-state cost. `peers` honest identities train the MNIST MLP with the CPU
// reference, compress with the real codec and error feedback, and are sampled with the
// adaptive-replication policy every round; the mean of their frames takes the outer step.
// computeFraction = validator CPU ms / training CPU ms over the rounds after every
// identity has passed `trustAfter` checks (the warm-up is reported apart).
//
// Phase B, cheating. Into the trained population (min(peers, 4) honest peers keep training)
// come `cheaters` fresh identities of each kind that cheat on every contribution (for at most
// `horizon`), and `sleepers` of each kind (rows `sleeper-KIND`) that are honest for their first
// trustAfter + 10 contributions and then cheat on every one for up to 2 × vestingRounds +
// ⌈2/rate⌉ rounds (past the credit rule's longest vesting path). A caught identity is burnt (its unbatched credit clawed back, sampled at 1) and
// leaves. Then rounds with no work go on until everything sent has vested or been taken back.
//   lazy           an all-zero update (empty frame), zero residuals
//   random         C(noise) scaled like an honest update, consistent residuals
//   noise          C(N(0, NOISE_SIGMA)) per parameter (shared/attacks.ts), consistent residuals
//   fewer-samples  trains ⌊steps/2⌋ steps, claims `steps` (and steps × batch samples)
//   stale          trains honestly, but from the model of `staleRounds` rounds ago
//   copycat        resubmits an honest peer's frame and residuals of this round, byte for byte
// Per kind: detectionRate (identities with a failed check while cheating),
// meanContributionsToDetect (index among its cheats of the first failed check),
// creditedCheatFraction (cheats that ended in a posted epoch, over cheats sent up to the
// catch), netGainFromCheating (mean tokens claimable at the end minus the credit, vested or
// not, the identity held at its first cheat: what it would have been paid had it left then).
// With --json the last line is { "verification": { computeFraction, cheaters: [...] , ... } }.
import { cliOutput, numberOption, parseCli, runCli, type CliOption, type CliSpec } from '../shared/cli.ts';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { Address, Hex } from 'viem';
import { keccak256, toHex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { loadMnist } from '../coordinator/data/index.ts';
import { openDatabase, Ledger } from '../coordinator/db/index.ts';
import { Validator, verificationOf, vestsRoundOf, type CheckResult } from '../coordinator/verify/index.ts';
import { Rewards, epochPolicy } from '../coordinator/rewards/index.ts';
import { creditWeiOf } from '../coordinator/round/index.ts';
import { decodeFrame, encodeUpdate, hashFrame, toDense } from '../shared/codec.ts';
import { aggregateLimits } from '../shared/round.ts';
import { DEFAULT_RUN, runSpecOf, type RunSettings, type RunSpec } from '../shared/config.ts';
import { trainLocalCpu, evaluate } from '../shared/mlp.ts';
import { initParams, mlpSpec } from '../shared/model.ts';
import { runModelHash } from '../shared/model-hash.ts';
import { applyOuterStep } from '../shared/outer.ts';
import { assignmentIndices, assignmentSeed } from '../shared/assignment.ts';
import { createRng, gaussian } from '../shared/rng.ts';
import { NOISE_SIGMA } from '../shared/attacks.ts';
import { residualCommitment, uploadFor, type Evidence } from '../shared/wire/index.ts';

export const CHEATER_KINDS = ['lazy', 'random', 'noise', 'stale', 'copycat', 'fewer-samples'] as const;
export type CheaterKind = (typeof CHEATER_KINDS)[number];
export type CheaterRowKind = CheaterKind | `sleeper-${CheaterKind}`;
export const CHEATER_ROWS: CheaterRowKind[] = [...CHEATER_KINDS, ...CHEATER_KINDS.map((k) => `sleeper-${k}` as const)];

export interface VerifySimOptions {
  peers?: number;
  rounds?: number;
  steps?: number;
  /** Cheaters per kind that cheat from their first contribution. */
  cheaters?: number;
  /** Most contributions such a cheater makes before the simulation gives up on it. */
  horizon?: number;
  /** Sleepers per kind: honest for `honestFor` contributions, then cheating on every one. */
  sleepers?: number;
  /** A sleeper's honest contributions before it cheats (default: trustAfter + 10). */
  honestFor?: number;
  /** Rounds the sleepers cheat for (default: 2 × vestingRounds + ⌈2 / rate⌉, past the longest vesting path, so vesting matters). */
  cheatRounds?: number;
  /** Honest peers that keep training while the cheaters play (default min(peers, 4)). */
  phaseBPeers?: number;
  staleRounds?: number;
  seed?: number;
  run?: Partial<RunSettings>;
  log?: (line: string) => void;
}

export interface CheaterRow {
  kind: CheaterRowKind;
  identities: number;
  /** Fraction of the identities with a failed check while they cheated. */
  detectionRate: number;
  /** Mean index (1-based, among its cheating contributions) of an identity's first failed check. */
  meanContributionsToDetect: number;
  /** Cheating contributions sent (up to and including the detected one: a caught identity is burnt and leaves). */
  cheatsSent: number;
  /** Of those, how many ended in a posted reward epoch (ledger state claimable). */
  cheatsCredited: number;
  creditedCheatFraction: number;
  /** Mean over the identities, in tokens: claimable at the end minus the credit held when cheating began. */
  netGainFromCheating: number;
  /** The largest single identity's gain (tokens): the lucky tail the mean hides. */
  maxNetGainFromCheating: number;
  /** Mean credit (tokens) an identity held, vested or not, at its first cheat. */
  heldWhenCheatingBegan: number;
}

export interface VerifySimResult {
  verification: {
    computeFraction: number;
    cheaters: CheaterRow[];
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
    /** The credit rule the ledger ran: vesting window, epoch length, rounds played with the cheaters. */
    creditRule: { vestingRounds: number; epochRounds: number; sleeperHonestFor: number; cheatRounds: number; epochs: number };
    peers: number;
    rounds: number;
    steps: number;
  };
}

/** One identity the simulation plays: an honest peer, a cheater from its first contribution, or a sleeper. */
interface Actor {
  kind: 'honest' | CheaterKind;
  sleeper: boolean;
  /** Index within its kind (the copycat picks whom to copy by it). */
  c: number;
  address: Address;
  residual: Float32Array;
  contributions: number;
  /** Contributions made honestly before cheating (0: cheats from the first; Infinity: honest). */
  honestFor: number;
  cheats: number;
  detectedAt: number;
  cheatIds: number[];
  /** Credit (wei) accepted and not taken back when the first cheat was sent. */
  heldAtCheatStart: bigint;
  minRel: number | null;
}

interface Produced {
  frame: Uint8Array;
  before: Float32Array;
  after: Float32Array;
  samples: number;
  steps: number;
  trainMs: number;
}

const WEI_PER_TOKEN = 10n ** 18n;
const tokens = (wei: bigint) => Number(wei) / Number(WEI_PER_TOKEN);

export async function runVerifySim(opts: VerifySimOptions = {}): Promise<VerifySimResult> {
  const log = opts.log ?? (() => {});
  const peers = opts.peers ?? 32;
  const rounds = opts.rounds ?? 24;
  const steps = opts.steps ?? 25;
  const perKind = opts.cheaters ?? 20;
  const horizon = opts.horizon ?? 10;
  const sleepersPerKind = opts.sleepers ?? 8;
  const staleRounds = opts.staleRounds ?? 3;
  const { train, test } = loadMnist();
  // Members restart their inner AdamW every round here (inner.state 'round'): the cheats below are
  // modelled on that; a kept state's own checks are coordinator/verify/inner-state.test.ts.
  const run: RunSpec = runSpecOf(
    1,
    { ...DEFAULT_RUN, ...opts.run, inner: { ...DEFAULT_RUN.inner, state: 'round', steps }, verification: { heldOutSamples: 128, ...opts.run?.verification } },
    {
      name: 'mnist',
      trainCount: train.count,
      testCount: test.count,
      features: train.features,
      classes: train.classes,
    },
  );
  const v = verificationOf(run);
  const honestFor = opts.honestFor ?? v.trustAfter + 10;
  const cheatRounds = opts.cheatRounds ?? 2 * v.vestingRounds + Math.ceil(2 / Math.max(v.rate, 1e-3));
  const spec = mlpSpec(run.sizes);
  const B = run.inner.batchSize;
  const rand = createRng(opts.seed ?? 12345);
  const limits = (round: number) => aggregateLimits(run, round);
  const keyOf = (i: number) => privateKeyToAddress(`0x${(0x1000 + i).toString(16).padStart(64, '0')}`).toLowerCase() as Address;

  let theta = initParams(spec, run.seed);
  const momentum = new Float32Array(theta.length);
  /** θ of the last staleRounds + 1 rounds, newest last (the stale cheater trains from the oldest). */
  const history: Float32Array[] = [theta.slice()];
  let trainMs = 0;
  let checkMs = 0;

  // The coordinator's credit path, unchanged: the ledger (PGlite in memory, the real
  // migrations and statements: vesting, clawback, epoch batching), the spot-check Validator
  // (sampling policy, reputation, re-execution with the CPU reference on its thread), and
  // the epoch policy with Rewards building each epoch's tree; only the chain is a stub.
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: await runModelHash(run, theta), params: theta, momentum });
  const evidence = new Map<number, Evidence>();
  /** Each contribution's actor and, for a cheat, its index among the actor's cheats (1-based; 0: honest work). */
  const sent = new Map<number, { actor: Actor; cheat: number }>();
  let honestChecks = 0;
  let honestFalse = 0;
  const honestMax = { relDelta: 0, relFrame: 0 };
  const onChecked = (id: number, r: CheckResult) => {
    const s = sent.get(id);
    if (!s) return;
    checkMs += r.detail.ms;
    if (s.cheat === 0) {
      honestChecks++;
      if (!r.passed) {
        honestFalse++;
        log(`honest work of ${s.actor.address.slice(0, 8)} (${s.actor.kind}) rejected: ${r.rejection.code}: ${r.rejection.prose}`);
      }
      honestMax.relDelta = Math.max(honestMax.relDelta, r.detail.relDelta ?? 0);
      honestMax.relFrame = Math.max(honestMax.relFrame, r.detail.relFrame ?? 0);
    } else if (!r.passed && !s.actor.detectedAt) {
      s.actor.detectedAt = s.cheat;
      s.actor.minRel = r.detail.relDelta ?? null;
    }
  };
  const validator = new Validator({
    run,
    ledger,
    train,
    heldOut: test,
    evidence: async (c, needs) => {
      const e = evidence.get(c.id);
      return e ? uploadFor(e, needs) : null;
    },
    random: rand,
    gpu: false,
    log: () => {},
    onChecked: (c, r) => onChecked(c.id, r),
  });
  let epochs = 0;
  const rewards = new Rewards(
    ledger,
    {
      chainId: 31337,
      rpcUrl: 'http://127.0.0.1:9',
      distributor: '0x0000000000000000000000000000000000000001',
      token: '0x0000000000000000000000000000000000000002',
      postEpoch: async (e, root) => ({ txHash: keccak256(toHex(`${e}:${root}`)) }),
      fundGas: () => Promise.reject(new Error('no faucet in the simulation')),
    },
    run,
    () => epochs++,
  );
  const afterCommit = epochPolicy(run, {
    checksSettled: (ms) => validator.idle(ms),
    postEpoch: (round, modelHash) => rewards.afterCommit(round, modelHash),
    creditedAccounts: async () => [],
    pushAccounts: () => {},
  });

  /** One contribution's local work from `start` on the identity's assignment, with error feedback. */
  const produce = (id: Actor, round: number, start: Float32Array, trainSteps: number, claimedSteps = trainSteps): Produced => {
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
  /** An update that is not the work: `vec` (plus the residual when `feedback`) through the codec. */
  const fake = (id: Actor, round: number, vec: Float32Array, feedback: boolean): Produced => {
    const before = feedback ? id.residual : new Float32Array(theta.length);
    if (feedback) for (let i = 0; i < vec.length; i++) vec[i] += before[i];
    const { bytes, residual } = encodeUpdate(vec, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round, samples: steps * B });
    const after = feedback ? residual : new Float32Array(theta.length);
    if (feedback) id.residual = residual;
    return { frame: bytes, before, after, samples: steps * B, steps, trainMs: 0 };
  };
  const cheat = (x: Actor, round: number, honestFrames: Produced[]): Produced => {
    switch (x.kind as CheaterKind) {
      case 'lazy':
        return fake(x, round, new Float32Array(theta.length), false);
      case 'random':
        return fake(
          x,
          round,
          new Float32Array(theta.length).map(() => 1e-3 * gaussian(rand)),
          true,
        );
      case 'noise':
        return fake(
          x,
          round,
          new Float32Array(theta.length).map(() => NOISE_SIGMA * gaussian(rand)),
          true,
        );
      case 'fewer-samples':
        return produce(x, round, theta, Math.max(1, Math.floor(steps / 2)), steps);
      case 'stale':
        return produce(x, round, history[0], steps);
      case 'copycat':
        return { ...honestFrames[(x.c + x.cheats) % honestFrames.length], trainMs: 0 };
    }
  };

  let nonce = 0n;
  /** Records one round's contributions, commits it with the honest frames' mean, samples, checks, and closes an epoch when due. */
  const playRound = async (round: number, work: { actor: Actor; p: Produced; cheat: number }[]) => {
    const accepted: { id: number; creditWei: bigint }[] = [];
    for (const { actor, p, cheat: k } of work) {
      const frameHash = hashFrame(p.frame);
      const residualHash = residualCommitment(p.before, p.after);
      const id = await ledger.insertPending(
        run.id,
        actor.address,
        {
          run: run.id,
          round,
          cohort: 0,
          frameHash,
          aggregateHash: frameHash,
          framesRoot: frameHash,
          residualHash,
          samples: p.samples,
          steps: p.steps,
          lossBeforeMicro: 0,
          lossAfterMicro: 0,
          computeMs: Math.round(p.trainMs),
          nonce: nonce++,
          expiry: 2n ** 40n,
          partner: '',
        },
        '0x00',
        { residualHash, device: 'cpu' },
      );
      evidence.set(id, { frame: p.frame, residualBefore: p.before, residualAfter: p.after });
      sent.set(id, { actor, cheat: k });
      if (k) actor.cheatIds.push(id);
      accepted.push({ id, creditWei: creditWeiOf(p.samples, run) });
    }
    const honestWork = work.filter((w) => w.cheat === 0 && w.actor.kind === 'honest');
    const thetaR = theta.slice();
    const mean = new Float32Array(theta.length);
    for (const { p } of honestWork) {
      const d = toDense(decodeFrame(p.frame, limits(round)));
      for (let i = 0; i < mean.length; i++) mean[i] += d[i] / honestWork.length;
    }
    if (honestWork.length) applyOuterStep(theta, momentum, mean, run.outer, round);
    history.push(theta.slice());
    if (history.length > staleRounds + 1) history.shift();
    const modelHash = await runModelHash(run, theta);
    await ledger.commitRound({
      runId: run.id,
      summary: {
        round,
        modelHash,
        committedAt: round,
        heldOutAccuracy: 0,
        heldOutLoss: 0,
        trainLoss: null,
        contributions: accepted.length,
        samples: work.reduce((s, w) => s + w.p.samples, 0),
        volunteers: work.length,
        updateBytes: 0,
      },
      state: { round: round + 1, modelHash, params: theta, momentum },
      update: null,
      accepted,
      rejected: [],
      vestsRound: vestsRoundOf(round, v),
    });
    if (accepted.length)
      await validator.afterCommit(
        round,
        thetaR,
        accepted.map((a) => a.id),
      );
    await validator.idle();
    await afterCommit({ round, modelHash });
    for (const a of accepted) evidence.delete(a.id);
  };

  const actor = (kind: Actor['kind'], key: number, c: number, honestFor: number, sleeper = false): Actor => ({
    kind,
    sleeper,
    c,
    address: keyOf(key),
    residual: new Float32Array(theta.length),
    contributions: 0,
    honestFor,
    cheats: 0,
    detectedAt: 0,
    cheatIds: [],
    heldAtCheatStart: 0n,
    minRel: null,
  });

  try {
    // ---- phase A: honest population, steady-state cost ----------------------------------
    const honest = Array.from({ length: peers }, (_, i) => actor('honest', i, i, Infinity));
    let steady: { train: number; check: number; checks: number; round: number } | null = null;
    let warmup = { train: 0, check: 0 };
    let round = 0;
    for (; round < rounds; round++) {
      const ids = await ledger.identities(honest.map((h) => h.address));
      if (!steady && honest.every((h) => ids.get(h.address)!.checksPassed >= v.trustAfter)) {
        warmup = { train: trainMs, check: checkMs };
        steady = { train: trainMs, check: checkMs, checks: honestChecks, round };
        log(`round ${round}: every identity trusted; steady state from here`);
      }
      const work = honest.map((h) => ({ actor: h, p: produce(h, round, theta, steps), cheat: 0 }));
      trainMs += work.reduce((s, w) => s + w.p.trainMs, 0);
      await playRound(round, work);
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

    // ---- phase B: cheaters and sleepers join the trained population ------------------------
    // Every round the honest peers still playing train first (the copycat copies one of their
    // frames of this very round), then every cheater and sleeper still playing contributes, and
    // the round commits, is sampled and checked, and closes an epoch when due. A cheater from
    // the first contribution plays until caught or `horizon` contributions; a sleeper is honest
    // for `honestFor` contributions (sampled at newIdentityRate until trusted, then at rate),
    // then cheats on every one until caught — then it is burnt (every unbatched row clawed back,
    // sampled at 1, quarantined) and leaves — or until `cheatRounds` rounds of cheating end.
    const phaseB = honest.slice(0, Math.min(peers, opts.phaseBPeers ?? 4));
    let key = 10_000;
    const cheaters = CHEATER_KINDS.flatMap((kind) => Array.from({ length: perKind }, (_, c) => actor(kind, key++, c, 0)));
    const sleepers = CHEATER_KINDS.flatMap((kind) => Array.from({ length: sleepersPerKind }, (_, c) => actor(kind, key++, c, honestFor, true)));
    const playing = (x: Actor) => !x.detectedAt && (x.sleeper ? x.cheats < cheatRounds : x.contributions < horizon);
    // After the last cheat, rounds go on (with no work: nothing in them is measured) until
    // everything sent has vested and an epoch has batched it, or been clawed back: a row with no
    // later passed check vests at round + 2 × vestingRounds (coordinator/verify/settings.ts).
    let quiet = 0;
    for (; quiet <= 2 * v.vestingRounds + run.rewards.epochRounds; round++) {
      const active = [...cheaters, ...sleepers].filter(playing);
      if (!active.length) {
        quiet++;
        await playRound(round, []);
        continue;
      }
      const honestWork = phaseB.map((h) => ({ actor: h, p: produce(h, round, theta, steps), cheat: 0 }));
      const work = [...honestWork];
      for (const x of active) {
        if (x.contributions >= x.honestFor) {
          if (x.cheats === 0) x.heldAtCheatStart = BigInt((await ledger.accountSummary(x.address)).creditWei);
          x.cheats++;
          work.push({
            actor: x,
            p: cheat(
              x,
              round,
              honestWork.map((w) => w.p),
            ),
            cheat: x.cheats,
          });
        } else work.push({ actor: x, p: produce(x, round, theta, steps), cheat: 0 });
        x.contributions++;
      }
      await playRound(round, work);
      if (round % 20 === 0)
        log(
          `round ${round}: ${active.length} cheaters playing, ${sleepers.filter((x) => x.detectedAt).length}/${sleepers.length} sleepers caught, ${epochs} epochs`,
        );
    }
    // Rounds with nobody cheating any more let the last cheats vest (or not) and the epochs batch them.
    await validator.idle();

    const cheaterMinRelDelta: Record<string, number | null> = {};
    const rows: CheaterRow[] = [];
    for (const kind of CHEATER_ROWS) {
      const sleeper = kind.startsWith('sleeper-');
      const mine = (sleeper ? sleepers : cheaters).filter((x) => x.kind === kind.replace('sleeper-', ''));
      const detected = mine.filter((x) => x.detectedAt > 0);
      const rels = detected.map((x) => x.minRel).filter((r): r is number => r !== null);
      cheaterMinRelDelta[kind] = rels.length ? Math.min(...rels) : null;
      let credited = 0;
      const gains: number[] = [];
      for (const x of mine) {
        for (const id of x.cheatIds) if ((await ledger.contribution(id))?.state === 'claimable') credited++;
        const end = BigInt((await rewards.claimable(x.address))?.cumulativeWei ?? 0);
        gains.push(tokens(end - x.heldAtCheatStart));
      }
      const sentCheats = mine.reduce((s, x) => s + x.cheats, 0);
      const row: CheaterRow = {
        kind,
        identities: mine.length,
        detectionRate: detected.length / Math.max(mine.length, 1),
        meanContributionsToDetect: detected.length ? detected.reduce((s, x) => s + x.detectedAt, 0) / detected.length : Infinity,
        cheatsSent: sentCheats,
        cheatsCredited: credited,
        creditedCheatFraction: credited / Math.max(sentCheats, 1),
        netGainFromCheating: gains.reduce((s, g) => s + g, 0) / Math.max(gains.length, 1),
        maxNetGainFromCheating: gains.length ? Math.max(...gains) : 0,
        heldWhenCheatingBegan: mine.reduce((s, x) => s + tokens(x.heldAtCheatStart), 0) / Math.max(mine.length, 1),
      };
      log(
        `${kind}: detected ${detected.length}/${mine.length}, mean contributions to detect ${row.meanContributionsToDetect.toFixed(2)}, credited ${credited}/${sentCheats} cheats, net gain ${row.netGainFromCheating.toFixed(4)} tokens (max ${row.maxNetGainFromCheating.toFixed(4)})`,
      );
      rows.push(row);
    }

    return {
      verification: {
        computeFraction,
        cheaters: rows,
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
        creditRule: { vestingRounds: v.vestingRounds, epochRounds: run.rewards.epochRounds, sleeperHonestFor: honestFor, cheatRounds, epochs },
        peers,
        rounds,
        steps,
      },
    };
  } finally {
    await validator.stop();
    await sql.close();
  }
}

export function verifyAcceptance(r: VerifySimResult): string[] {
  const out: string[] = [];
  if (!(r.verification.computeFraction <= 0.05)) out.push(`computeFraction ${r.verification.computeFraction} > 0.05`);
  for (const c of r.verification.cheaters) {
    if (!(c.creditedCheatFraction <= 0.05)) out.push(`${c.kind}: creditedCheatFraction ${c.creditedCheatFraction} > 0.05`);
    if (!(c.netGainFromCheating <= 0)) out.push(`${c.kind}: netGainFromCheating ${c.netGainFromCheating} > 0`);
    if (c.kind.startsWith('sleeper-')) continue;
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
    sleepers: { type: 'string', arg: 'N', help: 'sleepers of each kind (honest for trustAfter + 10 contributions, then cheating)' },
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
    sleepers: numberOption(values, 'sleepers', { min: 0, integer: true }),
    log: out.progress,
  });
  const failures = verifyAcceptance(result);
  const v = result.verification;
  out.summary(
    `\nvalidator compute / training compute at steady state: ${(v.computeFraction * 100).toFixed(2)} % (warm-up ${(v.warmupComputeFraction * 100).toFixed(1)} %)`,
  );
  for (const c of v.cheaters)
    out.summary(
      `  ${c.kind.padEnd(22)} detection ${(c.detectionRate * 100).toFixed(1)} %  mean contributions to detect ${c.meanContributionsToDetect.toFixed(2)}  credited cheats ${(c.creditedCheatFraction * 100).toFixed(1)} %  net gain ${c.netGainFromCheating.toFixed(4)} tokens`,
    );
  out.summary(failures.length ? `FAILED: ${failures.join('; ')}` : 'acceptance: pass');
  out.json(result);
  return failures;
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) runCli(SIM_VERIFY_CLI, () => verifySimMain(process.argv.slice(2)));
