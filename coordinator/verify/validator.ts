// Spot-check verification (DESIGN.md step 8): a sampled fraction of accepted contributions
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
// residualHash = keccak256(e_b ‖ e_a) (float32 LE, 2 × paramCount × 4 bytes), and a sampled
// member uploads the evidence (F ‖ e_b ‖ e_a) on request (a `verify` message; the upload is
// checked against both commitments, so nobody can answer for someone else). residualHash
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
//
// Sampling is BOINC-style adaptive replication: an identity with fewer than `trustAfter`
// passed checks is sampled at `newIdentityRate`, a trusted one at `rate`, and one whose
// reputation went negative (a failed check costs `FAIL_PENALTY`, a pass earns 1) at 1.
// Reports without a residual commitment (the browser page does not upload evidence yet)
// cannot be checked: they are marked `unverifiable` and paid like unsampled work.
import type { Address, Hex } from 'viem';
import { DEFAULT_VERIFICATION, modelOf, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import { decodeFrame, encodeUpdate, hashFrame, toDense, type DecodedFrame } from '../../shared/codec.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { evaluateModel, trainLocal } from '../../shared/preset.ts';
import { assignmentIndices, assignmentSeed } from '../../shared/assignment.ts';
import { aggregateLimits, applyGlobalUpdate, type LocalModel } from '../../shared/round.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { IdlegradError, isIdlegradError } from '../../shared/errors.ts';
import { decodeEvidence, FrameKind, residualCommitment, type DeviceKind, type Evidence, type Rejection, type RejectionCode, type ValidatorStatus } from '../../shared/wire/index.ts';
import type { IdentityRecord, Ledger, VerifiableContribution } from '../db/ledger.ts';
import { ReexecThread, type ExecutorState } from './reexec-thread.ts';

/** Reputation lost per failed check (a pass earns 1): one failure outweighs ten passes. */
export const FAIL_PENALTY = 10;

/** The run's verification settings over the defaults, validated with the failing keypath. */
export function verificationOf(run: Pick<RunSpec, 'verification'>): VerificationSettings {
  const v = { ...DEFAULT_VERIFICATION, ...(run.verification ?? {}) };
  const unit = ['rate', 'newIdentityRate', 'tolerance', 'codecTolerance'] as const;
  for (const k of unit) if (!(typeof v[k] === 'number' && v[k] >= 0 && v[k] <= 1)) throw new Error(`run.verification.${k}: expected a number in [0, 1], got ${JSON.stringify(v[k])}`);
  for (const k of ['trustAfter', 'evidenceTimeoutMs', 'heldOutSamples'] as const) {
    if (!(Number.isInteger(v[k]) && v[k] >= 0)) throw new Error(`run.verification.${k}: expected a non-negative integer, got ${JSON.stringify(v[k])}`);
  }
  return v;
}

/** Probability that an identity's next contribution is re-executed. */
export function samplingRate(id: Pick<IdentityRecord, 'checksPassed' | 'reputation'>, v: VerificationSettings): number {
  if (id.reputation < 0) return 1;
  return id.checksPassed < v.trustAfter ? v.newIdentityRate : v.rate;
}

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
}

export type Executor = 'dawn' | 'cpu';

export type CheckResult = { passed: true; detail: CheckDetail } | { passed: false; rejection: Rejection; detail: CheckDetail };

const norm = (a: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};
const distance = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
};

/** Δ_ref = θ_r − θ_local after re-executing `steps` inner steps on the member's assignment (CPU reference). */
export function referenceDelta(run: RunSpec, thetaR: Float32Array, train: Dataset, account: Address, round: number, steps: number): Float32Array {
  const B = run.inner.batchSize;
  const idx = assignedBatches(run, account, round, steps);
  const batches = Array.from({ length: steps }, (_, s) => idx.subarray(s * B, (s + 1) * B));
  const local = trainLocal(modelOf(run), thetaR, train, batches, run.inner.adamw).params;
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
  const opened = openEvidence(run, claim, evidence, t0);
  if ('passed' in opened) return opened;
  const ref = referenceDelta(run, thetaR, train, claim.account, claim.round, claim.steps);
  return compareWithReference(run, v, thetaR, heldOut, claim, evidence, opened, ref, t0);
}

/**
 * checkContribution with step 2 done by `reexecute` (the re-execution thread trains with the
 * WGSL kernels through Dawn): the same checks, reasons and tolerances; `executor` names it.
 */
export async function checkContributionWith(
  run: RunSpec,
  v: VerificationSettings,
  thetaR: Float32Array,
  heldOut: Dataset,
  claim: CheckClaim,
  evidence: Evidence,
  reexecute: { executor: Executor; delta: (steps: number) => Promise<Float32Array> },
): Promise<CheckResult> {
  const t0 = performance.now();
  const opened = openEvidence(run, claim, evidence, t0);
  if ('passed' in opened) return opened;
  const ref = await reexecute.delta(claim.steps);
  const r = compareWithReference(run, v, thetaR, heldOut, claim, evidence, opened, ref, t0);
  r.detail.executor = reexecute.executor;
  return r;
}

/** The member's public assignment for `round`, as `steps` batches of the run's batch size. */
export function assignedBatches(run: RunSpec, account: Address, round: number, steps: number): Uint32Array {
  return assignmentIndices(assignmentSeed(run.seed, round, account), steps, run.inner.batchSize, run.dataset.trainCount);
}

const failWith = (t0: number) => (code: RejectionCode, prose: string, d: Omit<CheckDetail, 'ms'> = {}): CheckResult => ({ passed: false, rejection: { code, prose }, detail: { ...d, ms: performance.now() - t0 } });

/** Step 1: the evidence against the commitments and the claim; the decoded frame, or the failure. */
function openEvidence(run: RunSpec, claim: CheckClaim, evidence: Evidence, t0: number): DecodedFrame | CheckResult {
  const fail = failWith(t0);
  if (hashFrame(evidence.frame) !== claim.frameHash.toLowerCase()) return fail('EVIDENCE_MISMATCH', 'the uploaded frame does not hash to the signed frameHash');
  if (!claim.residualHash || residualCommitment(evidence.residualBefore, evidence.residualAfter) !== claim.residualHash.toLowerCase()) {
    return fail('EVIDENCE_MISMATCH', 'the uploaded residuals do not hash to the committed residualHash');
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
    return fail('CLAIM_MISMATCH', `${claim.samples} samples claimed for ${claim.steps} steps of batch ${run.inner.batchSize} (frame says ${frame.header.samples})`);
  }
  const eb = evidence.residualBefore;
  const ea = evidence.residualAfter;
  for (let i = 0; i < eb.length; i++) if (!Number.isFinite(eb[i]) || !Number.isFinite(ea[i])) return fail('BAD_FRAME', 'residuals hold NaN or Inf');
  return frame;
}

/** Steps 3–5 against the re-executed Δ_ref. */
function compareWithReference(
  run: RunSpec,
  v: VerificationSettings,
  thetaR: Float32Array,
  heldOut: Dataset,
  claim: CheckClaim,
  evidence: Evidence,
  frame: DecodedFrame,
  ref: Float32Array,
  t0: number,
): CheckResult {
  const fail = failWith(t0);
  const eb = evidence.residualBefore;
  const ea = evidence.residualAfter;
  const sent = toDense(frame);
  const claimed = new Float32Array(ref.length);
  for (let i = 0; i < ref.length; i++) claimed[i] = sent[i] + ea[i] - eb[i];
  const refNorm = Math.max(norm(ref), 1e-12);
  const relDelta = distance(claimed, ref) / refNorm;

  const v2 = new Float32Array(ref.length);
  for (let i = 0; i < ref.length; i++) v2[i] = eb[i] + ref[i];
  const honest = toDense(decodeFrame(
    encodeUpdate(v2, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: claim.round, samples: claim.samples }).bytes,
    aggregateLimits(run, claim.round),
  ));
  const relFrame = distance(sent, honest) / Math.max(norm(honest), 1e-12);

  const spec = modelOf(run);
  const applied = thetaR.slice();
  for (let i = 0; i < applied.length; i++) applied[i] -= sent[i];
  const n = Math.min(v.heldOutSamples, heldOut.count);
  const lossGain = n > 0 ? evaluateModel(spec, thetaR, heldOut, n).loss - evaluateModel(spec, applied, heldOut, n).loss : 0;

  const d = { relDelta, relFrame, lossGain };
  if (!(relDelta <= v.tolerance)) return fail('WORK_MISMATCH', `the update differs from re-executing ${claim.steps} steps by ${(relDelta * 100).toFixed(1)} % (tolerance ${(v.tolerance * 100).toFixed(1)} %)`, d);
  if (!(relFrame <= v.codecTolerance)) return fail('FRAME_MISMATCH', `the frame differs from the honest compression by ${(relFrame * 100).toFixed(1)} % (tolerance ${(v.codecTolerance * 100).toFixed(1)} %)`, d);
  return { passed: true, detail: { ...d, ms: performance.now() - t0 } };
}

/** " (dawn, relDelta 1.2e-4)": what re-executed a check and how far the member's Δ was from it, for the log. */
export function checkFigures(r: CheckResult): string {
  const re = r.detail.recheck;
  const parts = [
    r.detail.executor, r.detail.relDelta === undefined ? undefined : `relDelta ${r.detail.relDelta.toExponential(2)}`, r.detail.executor && `${r.detail.ms.toFixed(0)} ms`,
    re && `rechecked: first Dawn run ${re.first.toExponential(2)}, second ${re.dawn.toExponential(2)}, CPU reference ${re.cpu.toExponential(2)}`,
  ].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** Where the validator gets a sampled member's evidence (the platform asks over the WebSocket). */
export type EvidenceSource = (c: VerifiableContribution) => Promise<Evidence | null>;

export interface ValidatorDeps {
  run: RunSpec;
  ledger: Ledger;
  train: Dataset;
  heldOut: Dataset;
  evidence: EvidenceSource;
  /** Uniform [0, 1): the sampling coin. Unpredictable to members (crypto) by default. */
  random?: () => number;
  onChecked?: (c: VerifiableContribution, r: CheckResult) => void;
  /** false: re-execute with the CPU reference without trying Dawn (default true). */
  gpu?: boolean;
  /** Where the validator says which executor re-executes (default console.log). */
  log?: (line: string) => void;
}

const cryptoRandom = () => crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;

/**
 * Sampling, the check queue and the ledger/reputation updates. `afterCommit` is awaited by
 * the engine before the round is published (it only marks rows and asks the sampled members
 * for their evidence); the re-executions run afterwards on the re-execution thread, one at a
 * time, behind the rounds, never on the commit path. Evidence is asked for when a round is
 * sampled, not when its check reaches the head of the queue: a page keeps a few rounds of
 * evidence, and a backlog must not turn honest work into EVIDENCE_WITHHELD.
 */
export class Validator {
  readonly settings: VerificationSettings;
  private readonly thetas = new Map<number, Float32Array>();
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private peak = 0;
  private checks = 0;
  private maxMs = 0;
  /** Validator milliseconds spent on re-executions so far (on the re-execution thread). */
  computeMs = 0;
  private readonly thread: ReexecThread;

  constructor(private readonly deps: ValidatorDeps) {
    this.settings = verificationOf(deps.run);
    const log = deps.log ?? ((line: string) => console.log(line));
    this.thread = new ReexecThread({
      run: deps.run, settings: this.settings, train: deps.train, heldOut: deps.heldOut, gpu: deps.gpu,
      onExecutor: (s) => log(s.executor === 'dawn'
        ? `validator: spot checks re-execute with the WGSL kernels through Dawn (${s.adapter})`
        : `validator: spot checks re-execute with the CPU reference, not Dawn (${s.fallback})`),
    });
  }

  /** What re-executes checks, once the re-execution thread has started (null before). */
  get executor(): ExecutorState | null {
    return this.thread.state;
  }

  /** Ends the re-execution thread (a later check starts it again). */
  stop(): Promise<void> {
    return this.thread.stop();
  }

  /** Checks queued or running. */
  get backlog(): number {
    return this.pending;
  }

  status(): ValidatorStatus {
    const e = this.thread.state;
    return {
      executor: e?.executor ?? null, adapter: e?.adapter ?? null, fallback: e?.fallback ?? null,
      backlog: this.pending, peakBacklog: this.peak,
      checks: this.checks, meanMs: this.checks ? this.computeMs / this.checks : null, maxMs: this.checks ? this.maxMs : null,
    };
  }

  /** Decide which of a committed round's accepted contributions are checked; queue those. */
  async afterCommit(round: number, thetaR: Float32Array, acceptedIds: number[]): Promise<number[]> {
    const rows = await this.deps.ledger.contributionsForVerification(acceptedIds);
    const rand = this.deps.random ?? cryptoRandom;
    const sampled: number[] = [];
    const skipped: number[] = [];
    const unverifiable: number[] = [];
    const identities = await this.deps.ledger.identities(rows.map((c) => c.account));
    for (const c of rows) {
      if (!c.residualHash) unverifiable.push(c.id);
      else if (rand() < samplingRate(identities.get(c.account)!, this.settings)) sampled.push(c.id);
      else skipped.push(c.id);
    }
    await this.deps.ledger.setVerification(sampled, 'sampled');
    await this.deps.ledger.setVerification(skipped, 'skipped');
    await this.deps.ledger.setVerification(unverifiable, 'unverifiable');
    if (sampled.length) {
      this.thetas.set(round, thetaR);
      this.enqueue(rows.filter((c) => sampled.includes(c.id)));
    }
    return sampled;
  }

  /**
   * Re-queue checks left unfinished by a restart; θ_r is rebuilt by replaying the published
   * updates. Also starts the re-execution thread, whose start-up (Dawn, pipelines, the
   * datasets' upload) would otherwise delay the first checks past the first reward epochs.
   */
  async resume(): Promise<number> {
    void this.thread.warm();
    const ids = await this.deps.ledger.awaitingVerification(this.deps.run.id);
    this.enqueue(await this.deps.ledger.contributionsForVerification(ids));
    return ids.length;
  }

  /**
   * Resolves when every check queued so far has finished (checks queued later do not extend
   * it), or after `timeoutMs`, whichever comes first.
   */
  idle(timeoutMs?: number): Promise<void> {
    if (timeoutMs === undefined) return this.queue;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([this.queue, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]).finally(() => clearTimeout(timer));
  }

  private enqueue(rows: VerifiableContribution[]): void {
    for (const c of rows) {
      this.pending++;
      this.peak = Math.max(this.peak, this.pending);
      // Asked now, while the member still holds it; the re-execution waits its turn.
      const evidence = this.deps.evidence(c).catch(() => null);
      this.queue = this.queue
        .then(() => this.verifyOne(c, evidence))
        .catch((e) => console.error(`[validator] contribution ${c.id}: ${(e as Error).message}`))
        .finally(() => {
          this.pending--;
          if (this.pending === 0) this.thetas.clear();
        });
    }
  }

  private async verifyOne(c: VerifiableContribution, asked: Promise<Evidence | null>): Promise<void> {
    const penalty = { pass: 1, fail: FAIL_PENALTY };
    const evidence = await asked;
    let result: CheckResult;
    if (!evidence) {
      result = { passed: false, rejection: { code: 'EVIDENCE_WITHHELD', prose: 'the member committed a residual but did not upload its evidence in time' }, detail: { ms: 0 } };
    } else {
      const theta = this.thetas.get(c.round) ?? (await this.modelAt(c.round));
      result = await this.thread.check(theta, c, evidence);
      this.checks++;
      this.computeMs += result.detail.ms;
      this.maxMs = Math.max(this.maxMs, result.detail.ms);
    }
    await this.deps.ledger.recordCheck(c.id, c.account, result.passed ? null : result.rejection, result.detail, penalty);
    this.deps.onChecked?.(c, result);
  }

  /** θ_round from the initial parameters and the published global updates, checked against the ledger's hash. */
  async modelAt(round: number): Promise<Float32Array> {
    const { run, ledger } = this.deps;
    const params = initParams(modelOf(run), run.seed);
    let m: LocalModel = { run: run.id, paramTableHash: run.paramTableHash, round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) };
    for (let r = 0; r < round; r++) {
      const u = await ledger.update(run.id, r);
      // A round that applied nothing published no update: θ stays.
      m = u ? applyGlobalUpdate(m, u, run) : { ...m, round: r + 1 };
    }
    const rounds = await ledger.rounds(run.id);
    const want = rounds.find((x) => x.round === round - 1)?.modelHash;
    if (want && m.modelHash !== want) throw new IdlegradError('INTERNAL', `replayed θ_${round} does not match the ledger's model hash`);
    return m.params;
  }
}

/**
 * Collects evidence uploads for sampled contributions. `source(ask)` is the validator's
 * EvidenceSource: it asks the member (a `verify` message) and waits up to the timeout.
 * Uploads are checked against the signed frame hash and the committed residual hash before
 * they count, so nobody can answer for someone else; a wrong upload is refused and the
 * request keeps waiting for the right one.
 */
const ASK_RETRY_MS = 1000;

export class EvidenceDesk {
  private readonly waiting = new Map<string, { c: VerifiableContribution; resolve: (e: Evidence | null) => void }>();

  constructor(private readonly paramCount: number, private readonly timeoutMs: number, private readonly now: () => number = Date.now) {}

  source(ask: (c: VerifiableContribution, deadline: number) => boolean): EvidenceSource {
    return (c) =>
      new Promise((resolve) => {
        const key = `${c.round}:${c.account}`;
        const deadline = this.now() + this.timeoutMs;
        const timer = setTimeout(() => finish(null), this.timeoutMs);
        // A member that is not connected (a reload, a coordinator restart) is asked again
        // once a second until the deadline.
        let retry: NodeJS.Timeout | undefined;
        const tryAsk = () => {
          if (!ask(c, deadline)) retry = setTimeout(tryAsk, ASK_RETRY_MS);
        };
        const finish = (e: Evidence | null) => {
          clearTimeout(timer);
          clearTimeout(retry);
          this.waiting.delete(key);
          resolve(e);
        };
        this.waiting.set(key, { c, resolve: finish });
        tryAsk();
      });
  }

  /** An upload for (round, account). Throws a named error when nothing waits for it or it does not match the commitments. */
  submit(round: number, account: Address, body: Uint8Array): void {
    const w = this.waiting.get(`${round}:${account.toLowerCase()}`);
    if (!w) throw new IdlegradError('NOT_FOUND', `no spot check of ${account} in round ${round} is waiting for evidence`);
    const e = decodeEvidence(body, this.paramCount);
    if (hashFrame(e.frame) !== w.c.frameHash.toLowerCase()) throw new IdlegradError('BAD_FRAME', 'evidence frame does not hash to the signed frameHash');
    if (!w.c.residualHash || residualCommitment(e.residualBefore, e.residualAfter) !== w.c.residualHash.toLowerCase()) {
      throw new IdlegradError('BAD_FRAME', 'evidence residuals do not hash to the committed residualHash');
    }
    w.resolve(e);
  }
}
