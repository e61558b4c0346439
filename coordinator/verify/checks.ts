// Spot-check verification, the pure checks (DESIGN.md step 8): a sampled fraction of accepted contributions
// is re-executed and compared with what the member committed; the result moves the
// contribution `accepted → verified` or `accepted → rejected (reason)` and moves the
// identity's reputation. Checks run after the round commits (they never delay a round) and
// before the epoch that would pay the credit: a sampled contribution stays out of
// `Ledger.cumulativeCredit` until its check ends.
//
// What is compared, and why not the frame bit for bit. A member's frame is F = C(Δ + e_b):
// chunked top-k + 4-bit quantization of its pseudo-gradient Δ plus its private
// error-feedback residual e_b, and it keeps e_a = Δ + e_b − decode(F). Neither e is public,
// so the frame alone cannot be recomputed. Each report therefore commits
// residualHash = keccak256(root(e_b) ‖ root(e_a)) (Merkle roots over leaves of 64 float32 LE
// values), and a sampled member uploads the evidence on request (a `verify` message; the upload
// is checked against both commitments, so nobody can answer for someone else): F, and each
// residual in full, as its root, or opened at the leaves the validator drew (shared/wire/evidence.ts).
// The validator supplies a residual it was not sent in full from what it knows, checked against
// that root bit for bit: e_b is the e_a of the identity's previous contribution when the
// validator checked that one (or zeros), and e_a is what the re-execution gives
// (honestCompression) when it is bit-identical to the member's. WebGPU work is re-executed
// within float drift, so its e_a is known exactly only at the opened leaves; the validator
// carries e_b + Δ_ref − decode(F) as its approximation elsewhere, and the next check of the
// chain uses it for the codec check only. The work check below compares the member's exact
// residuals: everywhere, or at the opened leaves (Comparison.exactLeaves). residualHash
// rides in the report next to the EIP-712 Contribution, authenticated by the connection's
// hello signature; moving it into the signed struct is a protocol-version change for the page.
// The validator then
//   1. checks keccak(F) against the signed frameHash and the residuals against the
//      committed hash, F's header against the claim (run, round, samples = steps × batch);
//   2. re-executes the claimed steps from θ_r on the member's public assignment
//      (assignmentSeed(run.seed, round, account)) with the run's WGSL trainer through Dawn,
//      on a worker thread (coordinator/verify/reexec.ts, reexec-thread.ts) → Δ_ref, on any adapter
//      (SwiftShader where the server has no GPU); only where Dawn cannot start, or fails, the
//      CPU reference (shared/preset.ts) does it there instead, and the log, each verdict's
//      `executor` ('dawn' | 'cpu', in the ledger and GET /api/contributions/:id) and the
//      dashboard's `validator` say so;
//   3. work check: the Δ the member actually sent, Δ_claimed = decode(F) + e_a − e_b (exact
//      by the codec's definition, no quantization noise), must satisfy
//      ‖Δ_claimed − Δ_ref‖ / ‖Δ_ref‖ ≤ tolerance (default 0.05);
//   4. codec check: F must be the honest compression of e_b + Δ_ref:
//      ‖decode(F) − decode(C(e_b + Δ_ref))‖ / ‖decode(C(e_b + Δ_ref))‖ ≤ codecTolerance
//      (default 0.25: a few top-k boundary or quantization-bucket flips from float noise);
//   5. scores the update by held-out loss change, L(θ_r) − L(θ_r − decode(F)) on
//      `heldOutSamples` test samples: recorded with the verdict, not itself a verdict (an
//      honest frame carries old residual mass and can raise the loss alone).
// A member cannot pass without computing Δ_ref — the real work on its own shard: zeros,
// noise, fewer steps than claimed, training from an old model or another member's frame
// (whose Δ belongs to another shard) all give Δ_claimed ≠ Δ_ref. The residuals are free
// values, so a member who did the work could still shape F through e_b; that is poisoning,
// which the robust aggregator bounds, not unpaid work. Honest work differs from the
// re-execution by float rounding that AdamW's normalisation amplifies for parameters with
// tiny gradients, and more so as the model converges. Why the kernels and not the CPU
// reference: the same Chromium pages' work (MNIST MLP, a run with outer lr 2 that reaches
// 90 % in 3 rounds) was within 3.5e-5 of Dawn in every round, but 4e-6, 4e-5, 1e-2 and
// 3.5e-2 from the CPU reference in rounds 0–3: the honest WORK_MISMATCH (6.4–8.5 %) of the
// first re-execution thread, whose late checks sampled later rounds with the CPU reference.
// So WebGPU work is re-executed by the kernels; the CPU reference re-executes CPU-trained
// work (bit-equal) and is the fallback when Dawn cannot run, where late rounds may drift.
// Measured relDelta (SwiftShader here, 2026-11-22): Dawn re-execution vs
// Chromium pages' WebGPU work in a 3-page swarm, MLP 3.7e-7 … 6.8e-6 (9 contributions),
// GPT 9.4e-7 … 1.6e-5 (9); Dawn vs CPU-trained work (virtual volunteers, e2e/protocol)
// 2.5e-7 … 4.5e-5 (4 runs), 25 MNIST steps 2.6e-7 (validator.gpu.test.ts), small GPT 9.2e-7
// (reexec.test.ts). The default tolerance, 5 % relative L2, is over 1,000× the largest of
// these and far below every cheat measured by `npm run sim -- --verify` (e2e/sim-verify.ts;
// smallest cheat 50 %, fewer-samples).
// The inner AdamW state (run setting inner.state 'kept', issue 15). A page that keeps its
// optimizer's moments across rounds trains from (m_b, v_b, t_b), so the commitment also holds
// that state before and after the round (shared/wire/inner-state.ts), the member uploads the state
// before in full and the re-execution (Dawn or the CPU reference) starts from it. Like e_b it is a
// free value unless the validator knows it: when it checked the identity's previous contribution
// it holds that state after's (t, digest) and requires the state before to be it (innerStateCheck,
// EVIDENCE_MISMATCH naming the chain), allowing for rounds it did not see (each at most a round's
// steps on) and for a page that reloaded (t = 0, zeros). A state that AdamW cannot reach (wrong
// length, NaN/Inf, negative v, non-zero moments at t = 0) is BAD_FRAME, and t_a ≠ t_b + steps is
// CLAIM_MISMATCH. Known gap: a state before the validator does not know may be any reachable
// state, e.g. a v so large that the round moves θ by weight decay alone; the work check still
// needs the round's real gradients for m, but its Δ_ref is then small (bounded, like e_b's
// freedom, by the robust aggregator, not by this check).
// Pure: no ledger, no network, no thread. The sampling queue is validator.ts; the sampling
// rates and settings are settings.ts; the re-execution thread is reexec-thread.ts.
import type { Address, Hex } from 'viem';
import { keepsInnerState, modelOf, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import { decodeFrame, encodeUpdate, hashFrame, toDense, type DecodedFrame } from '../../shared/codec.ts';
import type { AdamWState, Dataset } from '../../shared/mlp.ts';
import { evaluateModel, trainLocal } from '../../shared/preset.ts';
import { assignmentIndices, assignmentSeed } from '../../shared/assignment.ts';
import { aggregateLimits } from '../../shared/round.ts';
import { isIdlegradError } from '../../shared/errors.ts';
import {
  FrameKind,
  innerStateDigest,
  innerStateProblem,
  leafRange,
  stateDigests,
  residualCommitment,
  residualDigest,
  sameBits,
  type DeviceKind,
  type Evidence,
  type InnerStateEvidence,
  type Rejection,
  type RejectionCode,
  type ResidualPart,
} from '../../shared/wire/index.ts';

/** What a sampled member uploads: its frame and the residuals before and after it. */
export interface CheckClaim {
  account: Address;
  round: number;
  frameHash: Hex;
  residualHash: Hex | null;
  samples: number;
  steps: number;
  /**
   * What the member trained on. 'cpu' work (the page's CPU fallback, bit-equal to the CPU
   * reference) is re-executed with the CPU reference, everything else with the kernels.
   */
  device?: DeviceKind | null;
}

export interface CheckDetail {
  /** ‖Δ_claimed − Δ_ref‖ / ‖Δ_ref‖. */
  relDelta?: number;
  /** ‖decode(F) − decode(C(e_b + Δ_ref))‖ / ‖decode(C(e_b + Δ_ref))‖. */
  relFrame?: number;
  /** Held-out loss of θ_r minus that of θ_r − decode(F) (positive: the update helps). */
  lossGain?: number;
  /** Validator time for this check (on the re-execution thread). */
  ms: number;
  /** What re-executed the claimed steps: our WGSL kernels through Dawn, or the CPU reference (no usable adapter). */
  executor?: Executor;
  /**
   * Set when the first Dawn re-execution was more than tolerance / 10 away: its relDelta and
   * those of a second Dawn run and of the CPU reference (coordinator/verify/reexec.ts).
   */
  recheck?: { first: number; dawn: number; cpu: number };
  /**
   * Set when relDelta is above tolerance / 10: the tensors that hold most of the difference
   * (compared values only), so an operator sees where a member's update departs from the
   * re-execution (e.g. 'w0 97 % (rel 4.1e-2 over 448 values)').
   */
  where?: string;
  /** How many of Δ's values the work check compared: all, or the sampled leaves' (Comparison.exactLeaves). */
  compared?: number;
  /** How many values the codec check compared, when e_b was known on some codec chunks only (Comparison.codecRanges). */
  codecCompared?: number;
  /**
   * Set when the check on the sampled leaves failed the work check and the member's residuals,
   * asked for in full, decided it instead (Validator.verifyOne): the sampled leaves' relDelta and
   * how many values they held.
   */
  escalated?: { sampledRelDelta: number; compared: number };
}

export type Executor = 'dawn' | 'cpu';

export type CheckResult = { passed: true; detail: CheckDetail } | { passed: false; rejection: Rejection; detail: CheckDetail };

type Ranges = readonly (readonly [number, number])[];
const norm = (a: Float32Array, ranges: Ranges = [[0, a.length]]) => {
  let s = 0;
  for (const [from, to] of ranges) for (let i = from; i < to; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};
const distance = (a: Float32Array, b: Float32Array, ranges: Ranges = [[0, a.length]]) => {
  let s = 0;
  for (const [from, to] of ranges) for (let i = from; i < to; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
};

/**
 * Δ_ref = θ_r − θ_local after re-executing `steps` inner steps on the member's assignment (CPU
 * reference), AdamW from zero moments or going on from (a copy of) the member's `state` before.
 */
export function referenceDelta(
  run: RunSpec,
  thetaR: Float32Array,
  train: Dataset,
  account: Address,
  round: number,
  steps: number,
  state?: AdamWState,
): Float32Array {
  const B = run.inner.batchSize;
  const idx = assignedBatches(run, account, round, steps);
  const batches = Array.from({ length: steps }, (_, s) => idx.subarray(s * B, (s + 1) * B));
  const from = state && { m: state.m.slice(), v: state.v.slice(), t: state.t };
  const local = trainLocal(modelOf(run), thetaR, train, batches, run.inner.adamw, from).params;
  const delta = new Float32Array(thetaR.length);
  for (let i = 0; i < delta.length; i++) delta[i] = thetaR[i] - local[i];
  return delta;
}

/** Steps 1–5 of the module comment, for one contribution, re-executing on the CPU. Pure: no ledger, no network. */
export function checkContribution(
  run: RunSpec,
  v: VerificationSettings,
  thetaR: Float32Array,
  train: Dataset,
  heldOut: Dataset,
  claim: CheckClaim,
  evidence: Evidence,
): CheckResult {
  const t0 = performance.now();
  const opened = openEvidence(run, claim, { ...evidence, state: evidence.state });
  if ('passed' in opened) return opened;
  const ref = referenceDelta(run, thetaR, train, claim.account, claim.round, claim.steps, evidence.state?.before);
  const r = compareWithReference({ run, v, thetaR, heldOut, claim, evidence }, opened.frame, ref);
  r.detail.ms = performance.now() - t0;
  return r;
}

/** The frame an honest member sends for Δ_ref and the residual it keeps (honestCompression). */
export type HonestFrame = { bytes: Uint8Array; residual: Float32Array };

/**
 * C(e_b + Δ_ref) and its residual e' = e_b + Δ_ref − decode(C(e_b + Δ_ref)), in the page's float32
 * arithmetic (shared/round.ts pseudoGradient, shared/codec.ts encodeUpdate): the frame an honest
 * member sends, and — when Δ_ref is bit-identical to its Δ — exactly the residual it keeps.
 */
export function honestCompression(
  run: RunSpec,
  claim: Pick<CheckClaim, 'round' | 'samples'>,
  residualBefore: Float32Array,
  ref: Float32Array,
): { bytes: Uint8Array; residual: Float32Array } {
  const v = new Float32Array(ref.length);
  for (let i = 0; i < ref.length; i++) v[i] = ref[i] + residualBefore[i];
  return encodeUpdate(v, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: claim.round, samples: claim.samples });
}

/**
 * e_a = fround(e_b + Δ) − decode(F): the residual a page keeps after sending F (shared/round.ts),
 * from e_b and Δ_ref — the member's own within the re-execution's float drift when e_b is its.
 */
export function residualAfterOf(residualBefore: Float32Array, ref: Float32Array, frame: DecodedFrame): Float32Array {
  const sent = toDense(frame);
  const v = new Float32Array(ref.length);
  for (let i = 0; i < ref.length; i++) v[i] = ref[i] + residualBefore[i];
  for (let i = 0; i < ref.length; i++) v[i] -= sent[i];
  return v;
}

/** The member's public assignment for `round`, as `steps` batches of the run's batch size. */
export function assignedBatches(run: RunSpec, account: Address, round: number, steps: number): Uint32Array {
  return assignmentIndices(assignmentSeed(run.seed, round, account), steps, run.inner.batchSize, run.dataset.trainCount);
}

const failWith =
  (t0: number) =>
  (code: RejectionCode, prose: string, d: Omit<CheckDetail, 'ms'> = {}): CheckResult => ({
    passed: false,
    rejection: { code, prose },
    detail: { ...d, ms: performance.now() - t0 },
  });

/** The evidence opened by step 1: its decoded frame and the digests of both residuals (each hashed at most once). */
export interface OpenedEvidence {
  frame: DecodedFrame;
  beforeDigest: Hex;
  afterDigest: Hex;
}

/**
 * Step 1: the evidence against the commitments and the claim; the decoded frame, or the failure.
 * e_a may still be a digest (the re-execution derives it; the caller then checks the derived
 * residual against `afterDigest`), and `beforeDigest` is e_b's digest when the caller already
 * computed it from this very array (the validator carries it from the identity's last check), and
 * `afterDigest` e_a's when the upload thread already hashed this very upload (evidence-desk.ts), so
 * no residual is hashed twice.
 */
export function openEvidence(
  run: RunSpec,
  claim: CheckClaim,
  evidence: { frame: Uint8Array; residualBefore: ResidualPart; residualAfter: ResidualPart; state?: InnerStateEvidence },
  beforeDigest?: Hex,
  afterDigest?: Hex,
  states?: { before: Hex; after: Hex },
): OpenedEvidence | CheckResult {
  const fail = failWith(performance.now());
  if (hashFrame(evidence.frame) !== claim.frameHash.toLowerCase()) return fail('EVIDENCE_MISMATCH', 'the uploaded frame does not hash to the signed frameHash');
  if (keepsInnerState(run) !== Boolean(evidence.state))
    return fail(
      'BAD_FRAME',
      keepsInnerState(run)
        ? 'this run keeps the inner AdamW state across rounds, and the evidence carries none (a page of protocol 7 uploads it)'
        : 'this run restarts the inner AdamW state every round, and the evidence carries one',
    );
  const digests = { beforeDigest: beforeDigest ?? residualDigest(evidence.residualBefore), afterDigest: afterDigest ?? residualDigest(evidence.residualAfter) };
  const state = evidence.state && (states ?? stateDigests(evidence.state));
  if (!claim.residualHash || residualCommitment(digests.beforeDigest, digests.afterDigest, state) !== claim.residualHash.toLowerCase()) {
    return fail('EVIDENCE_MISMATCH', `the uploaded residuals${state ? ' and inner state' : ''} do not hash to the committed residualHash`);
  }
  let frame: DecodedFrame;
  try {
    // Any sample count: the claim check below compares it with the claim.
    frame = decodeFrame(evidence.frame, aggregateLimits(run, claim.round));
  } catch (e) {
    return fail('BAD_FRAME', isIdlegradError(e) ? e.shortMessage : (e as Error).message);
  }
  if (frame.header.kind !== FrameKind.update) return fail('BAD_FRAME', 'a member frame must be an update frame');
  if (claim.steps < 1 || claim.samples !== claim.steps * run.inner.batchSize || frame.header.samples !== claim.samples) {
    return fail(
      'CLAIM_MISMATCH',
      `${claim.samples} samples claimed for ${claim.steps} steps of batch ${run.inner.batchSize} (frame says ${frame.header.samples})`,
    );
  }
  return { frame, ...digests };
}

/** What the validator knows of an identity's inner state: the state after its last checked contribution. */
export interface KnownInnerState {
  round: number;
  t: number;
  digest: Hex;
}

/**
 * The inner state's own checks (module comment), before anything is re-executed: a state AdamW can
 * reach, t_a = t_b + steps, and the chain from `known` (the state after the identity's last checked
 * contribution, in round known.round < claim.round). Null when they pass; `digest` is stateDigest of
 * the state before when the caller has it (the evidence desk hashed it on the upload thread).
 */
export function innerStateCheck(
  run: RunSpec,
  claim: Pick<CheckClaim, 'round' | 'steps'>,
  state: InnerStateEvidence,
  known?: KnownInnerState,
  digest?: Hex,
): CheckResult | null {
  const fail = failWith(performance.now());
  const problem = innerStateProblem(state.before, run.paramCount);
  if (problem) return fail('BAD_FRAME', problem);
  if (state.after.t !== state.before.t + claim.steps)
    return fail(
      'CLAIM_MISMATCH',
      `the inner state after is at step ${state.after.t}; ${claim.steps} steps from step ${state.before.t} end at ${state.before.t + claim.steps}`,
    );
  if (!known || state.before.t === 0 || claim.round <= known.round) return null;
  // Rounds between the known state and this one: each may have moved the state by a round's steps at most.
  const most = known.t + (claim.round - known.round - 1) * run.inner.steps;
  if (state.before.t < known.t || state.before.t > most)
    return fail(
      'EVIDENCE_MISMATCH',
      `the inner state before is at step ${state.before.t}; after this identity's round ${known.round} (checked) it was at step ${known.t}, so round ${claim.round} starts from step ${known.t === most ? known.t : `${known.t}–${most}`} (or 0 after a reload)`,
    );
  if (state.before.t === known.t && (digest ?? innerStateDigest(state.before)) !== known.digest)
    return fail(
      'EVIDENCE_MISMATCH',
      `the inner state before is not the state after this identity's round ${known.round} (checked): same step ${known.t}, other moments (the chain is broken)`,
    );
  return null;
}

/** Whether two float32 arrays hold the same bits (shared/wire/evidence.ts; what equal residual digests say, without hashing). */
export { sameBits };

/** Mean loss of `params` on the first `heldOutSamples` held-out samples (0 when none): step 5's score. */
export function heldOutLoss(run: RunSpec, v: Pick<VerificationSettings, 'heldOutSamples'>, params: Float32Array, heldOut: Dataset): number {
  const n = Math.min(v.heldOutSamples, heldOut.count);
  return n > 0 ? evaluateModel(modelOf(run), params, heldOut, n).loss : 0;
}

/** What steps 3–5 compare: the run, its settings, θ_r, the held-out set, the claim and its evidence. */
export interface Comparison {
  run: RunSpec;
  v: VerificationSettings;
  thetaR: Float32Array;
  heldOut: Dataset;
  claim: CheckClaim;
  evidence: Evidence;
  /**
   * The leaves (shared/wire/evidence.ts leafRange) at which both residuals in `evidence` are the
   * member's exact committed values; elsewhere they are the validator's float approximation of
   * them, good for the codec check's tolerance, never for the work check, which then compares
   * these leaves alone. Absent: both residuals are exact everywhere.
   */
  exactLeaves?: number[];
  /**
   * The held-out loss of θ_r (heldOutLoss), when the caller keeps it: it is the same for every
   * check of a round, so the re-execution thread evaluates it once per θ_r, not once per check.
   */
  baseLoss?: () => number;
  /**
   * The value ranges (whole codec chunks) where `evidence.residualBefore` is the member's exact
   * e_b, when it is known nowhere else (the validator's chain broke and e_b came opened at one
   * chunk's leaves instead of in full): the codec check then compares the frame with the honest
   * compression on these chunks alone — the codec keeps top-k and a scale per chunk, so a chunk's
   * honest frame needs only that chunk of e_b + Δ_ref. Absent: everywhere.
   */
  codecRanges?: Ranges;
}

/**
 * Steps 3–5 against the re-executed Δ_ref. `honest` is honestCompression(e_b + Δ_ref) when the
 * caller already made it (to derive e_a) for this very Δ_ref; `detail.ms` is left to the caller,
 * which times the whole check.
 */
export function compareWithReference(
  { run, v, thetaR, heldOut, claim, evidence, exactLeaves, baseLoss, codecRanges }: Comparison,
  frame: DecodedFrame,
  ref: Float32Array,
  honest: HonestFrame = honestCompression(run, claim, evidence.residualBefore, ref),
): CheckResult {
  const fail = failWith(performance.now());
  const eb = evidence.residualBefore;
  const ea = evidence.residualAfter;
  if (exactLeaves?.length === 0) return fail('EVIDENCE_MISMATCH', 'no leaf holds both residuals exactly: the work check has nothing to compare');
  for (let i = 0; i < eb.length; i++) if (!Number.isFinite(eb[i]) || !Number.isFinite(ea[i])) return fail('BAD_FRAME', 'residuals hold NaN or Inf');
  const sent = toDense(frame);
  // The work check on the values where both residuals are exact: all, or the sampled leaves.
  const ranges = exactLeaves ? exactLeaves.map((i) => leafRange(i, ref.length)) : [[0, ref.length] as [number, number]];
  let diff = 0;
  let refSq = 0;
  for (const [a, b] of ranges)
    for (let i = a; i < b; i++) {
      const claimed = Math.fround(sent[i] + ea[i] - eb[i]);
      diff += (claimed - ref[i]) ** 2;
      refSq += ref[i] * ref[i];
    }
  const relDelta = Math.sqrt(diff) / Math.max(Math.sqrt(refSq), 1e-12);
  const where = relDelta > v.tolerance / 10 ? differenceByTensor(run, ranges, sent, ea, eb, ref, diff) : undefined;
  const compared = ranges.reduce((n, [a, b]) => n + b - a, 0);

  const honestSent = toDense(decodeFrame(honest.bytes, aggregateLimits(run, claim.round)));
  const relFrame = distance(sent, honestSent, codecRanges) / Math.max(norm(honestSent, codecRanges), 1e-12);

  const applied = new Float32Array(thetaR.length);
  for (let i = 0; i < applied.length; i++) applied[i] = thetaR[i] - sent[i];
  const lossGain = (baseLoss ? baseLoss() : heldOutLoss(run, v, thetaR, heldOut)) - heldOutLoss(run, v, applied, heldOut);

  const d = {
    relDelta,
    relFrame,
    lossGain,
    compared,
    ...(codecRanges ? { codecCompared: codecRanges.reduce((n, [a, b]) => n + b - a, 0) } : {}),
    ...(where ? { where } : {}),
  };
  if (!(relDelta <= v.tolerance))
    return fail(
      'WORK_MISMATCH',
      `the update differs from re-executing ${claim.steps} steps by ${(relDelta * 100).toFixed(1)} % (tolerance ${(v.tolerance * 100).toFixed(1)} %)`,
      d,
    );
  if (!(relFrame <= v.codecTolerance))
    return fail(
      'FRAME_MISMATCH',
      `the frame differs from the honest compression by ${(relFrame * 100).toFixed(1)} % (tolerance ${(v.codecTolerance * 100).toFixed(1)} %)`,
      d,
    );
  return { passed: true, detail: { ...d, ms: 0 } };
}

/** The three tensors with the largest share of the compared difference, with their own relative difference. */
function differenceByTensor(
  run: RunSpec,
  ranges: readonly (readonly [number, number])[],
  sent: Float32Array,
  ea: Float32Array,
  eb: Float32Array,
  ref: Float32Array,
  total: number,
): string {
  const rows = modelOf(run).tensors.map((t) => {
    let diff = 0;
    let refSq = 0;
    let count = 0;
    for (const [a, b] of ranges)
      for (let i = Math.max(a, t.offset); i < Math.min(b, t.offset + t.size); i++) {
        diff += (Math.fround(sent[i] + ea[i] - eb[i]) - ref[i]) ** 2;
        refSq += ref[i] * ref[i];
        count++;
      }
    return { name: t.name, diff, rel: Math.sqrt(diff) / Math.max(Math.sqrt(refSq), 1e-12), count };
  });
  return rows
    .filter((r) => r.count > 0)
    .sort((x, y) => y.diff - x.diff)
    .slice(0, 3)
    .map((r) => `${r.name} ${((100 * r.diff) / Math.max(total, 1e-30)).toFixed(0)} % (rel ${r.rel.toExponential(1)} over ${r.count} values)`)
    .join(', ');
}

/** " (dawn, relDelta 1.2e-4)": what re-executed a check and how far the member's Δ was from it, for the log. */
export function checkFigures(r: CheckResult): string {
  const re = r.detail.recheck;
  const parts = [
    r.detail.executor,
    r.detail.relDelta === undefined ? undefined : `relDelta ${r.detail.relDelta.toExponential(2)}`,
    r.detail.executor && `${r.detail.ms.toFixed(0)} ms`,
    re && `rechecked: first Dawn run ${re.first.toExponential(2)}, second ${re.dawn.toExponential(2)}, CPU reference ${re.cpu.toExponential(2)}`,
    r.detail.where && `difference in ${r.detail.where}`,
    r.detail.escalated &&
      `escalated: ${r.detail.escalated.compared} sampled values said ${r.detail.escalated.sampledRelDelta.toExponential(2)}, decided on both residuals in full`,
  ].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
