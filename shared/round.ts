// The pure steps of one round on a volunteer (browser or virtual): pseudo-gradient with error feedback, the own
// update frame, the cohort aggregate, and the contribution to sign. No I/O, so each is
// testable and a validator could rerun it.
import type { Address, Hex } from 'viem';
import { aggregateUpdates, directions, framesRoot, type AggregateResult, type AggregatorConfig } from './aggregate.ts';
import {
  decodeFrame,
  encodeAggregate,
  encodeUpdate,
  frameLimits,
  hashFrame,
  kPerChunk,
  codecAtRound,
  maxAggregateFrameBytes,
  maxUpdateFrameBytes,
  toDense,
  type CodecConfig,
  type DecodedFrame,
  type FrameLimits,
} from './codec.ts';
import { downCodecOf, maxSamplesPerReport, type RunSpec } from './config.ts';
import { IdlegradError } from './errors.ts';
import { runModelHash } from './model-hash.ts';
import { applyOuterStep } from './outer.ts';
import { toMicro, type Contribution } from './eip712.ts';
import { FrameKind } from './wire/frame.ts';

/** v = (θ_r − θ_local) + e, in float32, (paramCount). */
export function pseudoGradient(before: Float32Array, after: Float32Array, residual: Float32Array): Float32Array {
  if (before.length !== after.length || before.length !== residual.length) {
    throw new RangeError(`pseudoGradient: lengths ${before.length}, ${after.length}, ${residual.length} differ`);
  }
  const v = new Float32Array(before.length);
  for (let i = 0; i < v.length; i++) v[i] = Math.fround(before[i] - after[i]) + residual[i];
  return v;
}

/**
 * Adaptive inner steps: as many steps as fit in the time left of the round's training
 * budget at the device's measured pace, at most the run's `inner.steps` (the limit a report
 * may claim) and at least 1. A fast device does more steps, a slow one fewer; the
 * aggregators weight each update by its samples (steps × batch). Without a measured pace
 * (the first round) a device trains the full count.
 */
export function adaptiveSteps(maxSteps: number, budgetMs: number, msPerStep: number | null): number {
  if (msPerStep === null || !(msPerStep > 0) || !Number.isFinite(budgetMs)) return maxSteps;
  return Math.max(1, Math.min(maxSteps, Math.floor(budgetMs / msPerStep)));
}

export interface OwnUpdate {
  bytes: Uint8Array;
  hash: Hex;
  /** e' = v − decode(C(v)), kept for the next round. */
  residual: Float32Array;
  samples: number;
}

/** What a volunteer's own frame says about itself and how it is compressed: all the trainer needs to build it. */
export interface UpdateHeader {
  codec: CodecConfig;
  paramTableHash: Hex;
  run: number;
  round: number;
}

export const updateHeader = (run: RunSpec, round: number): UpdateHeader => ({ codec: run.codec, paramTableHash: run.paramTableHash, run: run.id, round });

/** Compress v with error feedback into this volunteer's frame for the round. */
export function compressUpdate(header: UpdateHeader, v: Float32Array, samples: number): OwnUpdate {
  const { bytes, residual } = encodeUpdate(v, header.codec, { paramTableHash: header.paramTableHash, run: header.run, round: header.round, samples });
  return { bytes, hash: hashFrame(bytes), residual, samples };
}

export function encodeOwnUpdate(run: RunSpec, round: number, v: Float32Array, samples: number): OwnUpdate {
  return compressUpdate(updateHeader(run, round), v, samples);
}

export interface HeldUpdate {
  address: Address;
  hash: Hex;
  frame: DecodedFrame;
}

export interface CohortAggregate {
  bytes: Uint8Array;
  aggregateHash: Hex;
  framesRoot: Hex;
  /** Frame hashes inside the aggregate, ascending (the report's frameHashes). */
  hashes: Hex[];
  /**
   * Held frames the aggregator refused, in hash order, each with why ('opposed': it points away
   * from the cohort's other frames). Their members are not named in the report, so the
   * coordinator refuses their contributions as LEFT_OUT (no credit), and each such page keeps
   * its whole update in its error-feedback residual (web/src/client/round/round-runner.ts).
   */
  excluded: AggregateResult['excluded'];
  samples: number;
  /** Lowest address among the members whose frames are held: who uploads. */
  uploader: Address;
  /** Only this peer's own frame is held: relay mode. */
  relay: boolean;
  /**
   * What the in-cohort vote saw, for the member's log (describeVote): every held frame in hash
   * order with its norm and claimed samples, and their pairwise cosines (shared/aggregate.ts directions).
   */
  vote: { hashes: Hex[]; norms: number[]; samples: number[]; cosines: number[] };
}

/** A cohort aggregate's vote in one line: "3 frames, norms 3.50 3.08 3.70, samples 3200 1984 320, cosines 0.36 −0.16 −0.20". */
export function describeVote({ vote }: Pick<CohortAggregate, 'vote'>): string {
  const f = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  return `${vote.hashes.length} frame(s), norms ${f(vote.norms)}, samples ${vote.samples.join(' ')}${vote.cosines.length ? `, cosines ${f(vote.cosines)}` : ''}`;
}

/**
 * The in-cohort aggregator: the run's robust aggregator with the leave-one-out direction vote
 * (shared/aggregate.ts leaveOneOutOpposed), unless a config turns it off explicitly (the sim's
 * control row). A cohort of 3 or 4 is below the size where the trimmed-mean centre trims
 * anything (5 at trim 0.2), so without the vote a 1-of-3 sign flip −4Δ reached the model
 * (issue 15: the e2e/chaos round that took held-out loss from 2.30 to 2.93). The cross-cohort
 * combine (shared/robust-combine.ts) keeps the run's aggregator as it is.
 */
export const cohortAggregator = (cfg: AggregatorConfig): AggregatorConfig => ({ ...cfg, leaveOneOut: cfg.leaveOneOut ?? true });

/** The aggregate every member computes identically from the same held frames. */
export function cohortAggregate(run: RunSpec, round: number, own: HeldUpdate, received: HeldUpdate[]): CohortAggregate {
  const held = [own, ...received];
  const { dense, samples, included, excluded } = aggregateUpdates(
    held.map((h) => ({ hash: h.hash, frame: h.frame })),
    run.paramCount,
    cohortAggregator(run.aggregator),
  );
  const bytes = encodeAggregate(dense, run.codec.chunkSize, { paramTableHash: run.paramTableHash, run: run.id, round, samples });
  // Only frames the aggregator kept are named (and credited): a refused copy, empty or
  // out-of-limit frame is held but not inside the aggregate.
  const hashes = [...included].sort();
  const uploader = held.map((h) => h.address.toLowerCase() as Address).sort()[0];
  const sorted = [...held].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const vote = { hashes: sorted.map((h) => h.hash), samples: sorted.map((h) => h.frame.header.samples), ...directions(sorted.map((h) => h.frame)) };
  return { bytes, aggregateHash: hashFrame(bytes), framesRoot: framesRoot(hashes), hashes, excluded, samples, uploader, relay: received.length === 0, vote };
}

/** A held frame as bytes: what crosses from the page to its worker. */
export interface HeldBytes {
  address: Address;
  hash: Hex;
  bytes: Uint8Array;
}

/** cohortAggregate from frame bytes (each decoded under the round's peer-update limits). */
export function cohortAggregateOfBytes(run: RunSpec, round: number, own: HeldBytes, received: HeldBytes[]): CohortAggregate {
  const limits = peerUpdateLimits(run, round);
  const held = (h: HeldBytes): HeldUpdate => ({ address: h.address, hash: h.hash, frame: decodeFrame(h.bytes, limits) });
  return cohortAggregate(run, round, held(own), received.map(held));
}

/**
 * One frame down (DESIGN.md "Small downloads too"): the combined global update g, compressed
 * with the page's codec (chunked top-k, low-bit values) and the coordinator's own error-feedback
 * residual e_c: v = g + e_c, frame = C(v), e_c' = v − decode(frame). Deterministic in float32 and
 * in chunk order, so a restarted coordinator with the same e_c publishes the same bytes. The
 * frame is an update-kind frame (low-bit values); applyGlobalUpdate reads either kind.
 */
export function compressGlobalUpdate(run: RunSpec, round: number, combined: Uint8Array, residual: Float32Array): { bytes: Uint8Array; residual: Float32Array } {
  const frame = decodeFrame(combined, aggregateLimits(run, round));
  const { header } = frame;
  return compressWithFeedback(toDense(frame), residual, downCodecOf(run), run.downCodec?.residualDecay ?? 1, {
    paramTableHash: header.paramTableHash,
    run: header.run,
    round,
    samples: header.samples,
  });
}

/** C(g + β·e) and the new residual g + β·e − decode(C(g + β·e)), in float32 (the global update's error feedback; e2e/sim.ts uses it too). */
export function compressWithFeedback(
  dense: Float32Array,
  residual: Float32Array,
  codec: CodecConfig,
  decay: number,
  args: Parameters<typeof encodeUpdate>[2],
): { bytes: Uint8Array; residual: Float32Array } {
  const v = new Float32Array(dense.length);
  const beta = Math.fround(decay);
  for (let i = 0; i < v.length; i++) v[i] = dense[i] + (beta === 1 ? residual[i] : Math.fround(beta * residual[i]));
  return encodeUpdate(v, codec, args);
}

/** A Contribution before signing: losses as floats, expiry from the server clock. */
export type ContributionInput = Omit<Contribution, 'lossBeforeMicro' | 'lossAfterMicro' | 'expiry' | 'partner'> & {
  /** The partner widget the work came through (signed); absent or null: none (''). */
  partner?: string | null;
  lossBefore: number;
  lossAfter: number;
  /** Server time, epoch ms. */
  nowMs: number;
  /** Validity window. Default 3600 s. */
  ttlSeconds?: number;
};

export function buildContribution(c: ContributionInput): Contribution {
  return {
    run: c.run,
    round: c.round,
    cohort: c.cohort,
    frameHash: c.frameHash,
    aggregateHash: c.aggregateHash,
    framesRoot: c.framesRoot,
    residualHash: c.residualHash,
    samples: c.samples,
    steps: c.steps,
    lossBeforeMicro: toMicro(c.lossBefore),
    lossAfterMicro: toMicro(c.lossAfter),
    computeMs: Math.min(0xffffffff, Math.max(0, Math.round(c.computeMs))),
    nonce: c.nonce,
    expiry: BigInt(Math.floor(c.nowMs / 1000) + (c.ttlSeconds ?? 3600)),
    partner: c.partner ?? '',
  };
}

/** A uniformly random uint64 from the platform's CSPRNG. */
export function randomNonce(): bigint {
  return crypto.getRandomValues(new BigUint64Array(1))[0];
}

// ---- the global model a volunteer holds --------------------------------------------

export interface LocalModel {
  run: number;
  paramTableHash: Hex;
  round: number;
  modelHash: Hex;
  /** θ_round, (paramCount) float32 in the run's parameter table layout. */
  params: Float32Array;
  /** Outer Nesterov momentum after round − 1, same layout. */
  momentum: Float32Array;
}

const runLimits = (run: RunSpec, round: number, maxSamples: number, codec = run.codec): FrameLimits =>
  frameLimits({ paramTableHash: run.paramTableHash, paramCount: run.paramCount, run: run.id, codec, maxSamples, round });

/** What a peer's update frame may be for this run and round. */
export const peerUpdateLimits = (run: RunSpec, round: number): FrameLimits => runLimits(run, round, maxSamplesPerReport(run));

/** An update's largest k in a chunk over the run's rounds (a codec warm-up's, if denser). */
const loosestK = (run: Pick<RunSpec, 'codec'>): number => kPerChunk(codecAtRound(run.codec, undefined), run.codec.chunkSize);

/** The largest update frame a peer of this run may send: the cap of the p2p exchange, the relay and evidence. */
export const maxPeerFrameBytes = (run: Pick<RunSpec, 'paramCount' | 'codec'>): number =>
  maxUpdateFrameBytes(run.paramCount, run.codec.chunkSize, loosestK(run), run.codec.bits, run.codec.indexCoding);

/**
 * The largest cohort aggregate an uploader may send: nonzero only where one of the cohort's
 * members' frames was, so at most cohortSize × an update's k values in a chunk (issue 18: no
 * fixed cap below the model; gpt-base at cohort 8 reaches 24.6 MB, over the old 8 MiB).
 */
export const maxCohortAggregateBytes = (run: Pick<RunSpec, 'paramCount' | 'codec' | 'cohortSize'>): number =>
  maxAggregateFrameBytes(run.paramCount, run.codec.chunkSize, run.cohortSize * loosestK(run));

/** What a cohort aggregate or global update may be: sample weight is a sum over peers (any u32). */
export const aggregateLimits = (run: RunSpec, round: number): FrameLimits => runLimits(run, round, 0xffffffff);

/** What a published global update may be: an exact aggregate, or an update frame in the run's down codec (downCodecOf). */
export const globalUpdateLimits = (run: RunSpec, round: number): FrameLimits => runLimits(run, round, 0xffffffff, downCodecOf(run));

/**
 * θ_{r+1} from θ_r and the round-r global update frame: exact (an aggregate frame) or compressed
 * by the coordinator (an update frame, compressGlobalUpdate). Pure: the input model is not touched.
 * Async for the hash (the run's scheme, shared/model-hash.ts: chunk digests off this thread) and
 * for `pause`: awaited between slices of APPLY_SLICE values of the copies and the outer step, so
 * a caller's event loop is not held for the whole model at once (the coordinator's commit: at
 * gpt-small the copies and the step were 0.4–0.7 s in one block). The same bits either way.
 */
export async function applyGlobalUpdate(model: LocalModel, frameBytes: Uint8Array, run: RunSpec, pause?: () => Promise<void>): Promise<LocalModel> {
  const frame = decodeFrame(frameBytes, globalUpdateLimits(run, model.round));
  const g = toDense(frame);
  const n = model.params.length;
  const params = new Float32Array(n);
  const momentum = new Float32Array(n);
  for (let at = 0; at < n; at += APPLY_SLICE) {
    if (pause && at > 0) await pause();
    const end = Math.min(n, at + APPLY_SLICE);
    params.set(model.params.subarray(at, end), at);
    momentum.set(model.momentum.subarray(at, end), at);
    applyOuterStep(params, momentum, g, run.outer, model.round, at, end);
  }
  return { ...model, round: model.round + 1, modelHash: await runModelHash(run, params), params, momentum };
}

/** Values applyGlobalUpdate copies and steps between pauses: about 25 ms of a loaded 2-core machine's loop (gpt-small: 11 slices). */
export const APPLY_SLICE = 1 << 20;
