// The spot-check validator (DESIGN.md step 8): a sampled fraction of accepted contributions
// is re-executed and compared with what the member committed (checks.ts says what is
// compared and why); the result moves the contribution `accepted → verified` or
// `accepted → rejected (reason)` and moves the identity's reputation (settings.ts). Checks
// run after the round commits (they never delay a round) and before the epoch that would
// pay the credit: a sampled contribution stays out of `Ledger.cumulativeCredit` until its
// check ends.
import type { Hex } from 'viem';
import { modelOf, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { applyGlobalUpdate, type LocalModel } from '../../shared/round.ts';
import { initParams } from '../../shared/model.ts';
import { runModelHash } from '../../shared/model-hash.ts';
import { IdlegradError } from '../../shared/errors.ts';
import {
  residualDigest,
  isOpening,
  MAX_ASKED_LEAVES,
  RESIDUAL_LEAF,
  residualLeafCount,
  stateDigest,
  type EvidenceNeeds,
  type EvidenceUpload,
  type ResidualOpening,
  type ValidatorStatus,
} from '../../shared/wire/index.ts';
import type { Ledger, VerifiableContribution } from '../db/index.ts';
import { ReexecThread, type ExecutorState } from './reexec-thread.ts';
import type { CheckEvidence, ReexecOutcome } from './reexec.ts';
import { innerStateCheck, type CheckResult, type KnownInnerState } from './checks.ts';
import { FAIL_PENALTY, samplingRate, verificationOf } from './settings.ts';

/**
 * Where the validator gets a sampled member's evidence (the platform asks over the WebSocket):
 * the frame, and the residuals `needs` names in full, the others as digests.
 */
export type EvidenceSource = (c: VerifiableContribution, needs: EvidenceNeeds) => Promise<CheckedUpload | null>;

/**
 * An evidence upload as the evidence desk hands it over: with the roots of both residuals when it
 * hashed them to check the commitment (shared/wire/evidence.ts EvidenceDigests), so that a residual
 * sent in full is not Merkle-hashed a second time by the check.
 */
export type CheckedUpload = EvidenceUpload & { beforeDigest?: Hex; afterDigest?: Hex; stateDigests?: { before: Hex; after: Hex } };

/**
 * Bytes of residuals the validator carries between an identity's checks (each identity's e_a
 * of its last checked contribution); past it the least recently checked identity's is dropped
 * and its next check asks the member for e_b.
 */
export const CARRIED_RESIDUAL_BYTES = 64 * 1024 * 1024;

/**
 * Leaves of each residual a check opens (shared/wire/evidence.ts), drawn with the sampling coin
 * after the member committed: about 9.3 KB of evidence for the MLP (both residuals, 8 leaves of
 * 64 values with 10-hash proofs) where the residuals in full were 407 KB. A cheat that skips
 * work (zeros, noise, fewer steps, an old model, another's shard) moves Δ in every leaf, so each
 * sampled leaf exposes it alone; 8 leave a lazy frame nowhere to hide unless Δ_ref is zero in
 * all eight (MNIST's blank border pixels are still moved by AdamW's weight decay).
 */
export const SAMPLED_LEAVES = 8;

/** No leaves: each residual not asked in full travels as its root alone. */
const NO_LEAVES: number[] = [];

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
  /** Set by stop(): a check that fails from now on was stopped with the thread, not decided. */
  private stopping = false;
  private peak = 0;
  private checks = 0;
  private maxMs = 0;
  /** Validator milliseconds spent on re-executions so far (on the re-execution thread). */
  computeMs = 0;
  private readonly thread: ReexecThread;
  /**
   * By account: the member's e_a of its last checked contribution (its next e_b while its chain
   * holds) and its digest, computed by the check that opened it: a carried e_b is never hashed again.
   */
  private readonly carried = new Map<string, { values: Float32Array; digest: Hex; exact: boolean }>();
  /** By account: whether its last accepted contribution seen here was sampled (then its e_a is, or will be, carried). */
  private readonly lastSampled = new Map<string, boolean>();
  /** By account: whether the last re-execution reproduced its e_a bit for bit (then it is not asked for). */
  private readonly derivable = new Map<string, boolean>();
  /** By contribution: the sampled leaves, when its evidence was asked with a codec chunk besides (needsAtSampling). */
  private readonly workLeaves = new Map<number, number[]>();
  /**
   * Accounts whose chain is broken here until a check carries their e_a again: a check on a codec
   * chunk does not learn e_a elsewhere, so the next sampled contribution is asked for a chunk at
   * once rather than for the sampled leaves and then, at its check, a second time.
   */
  private readonly brokenChain = new Set<string>();
  private zeroDigest: Hex | null = null;
  /**
   * By account: the inner AdamW state after its last checked contribution whose evidence matched its
   * commitment (run setting inner.state 'kept'): its next state before must go on from it (checks.ts innerStateCheck).
   */
  private readonly knownStates = new Map<string, KnownInnerState>();
  /**
   * Residuals checks took from what the validator knew (carried, zeros, derived) and those the
   * members uploaded in full; `opened`: those that came as the sampled leaves only, the rest
   * from the validator's approximation of the member's chain; `askedAgain`: second requests, when
   * a guess at sampling time was wrong.
   */
  readonly residuals = { known: 0, uploaded: 0, opened: 0, askedAgain: 0 };

  constructor(private readonly deps: ValidatorDeps) {
    this.settings = verificationOf(deps.run);
    const log = deps.log ?? ((line: string) => console.log(line));
    this.thread = new ReexecThread({
      run: deps.run,
      settings: this.settings,
      train: deps.train,
      heldOut: deps.heldOut,
      gpu: deps.gpu,
      onExecutor: (s) =>
        log(
          (s.executor === 'dawn'
            ? `validator: spot checks re-execute with the WGSL kernels through Dawn (${s.adapter})`
            : `validator: spot checks re-execute with the CPU reference, not Dawn (${s.fallback})`) +
            (s.priority ? ('nice' in s.priority ? `, at niceness ${s.priority.nice}` : `, at the coordinator's priority (${s.priority.left})`) : ''),
        ),
    });
  }

  /** What re-executes checks, once the re-execution thread has started (null before). */
  get executor(): ExecutorState | null {
    return this.thread.state;
  }

  /** Whether the re-execution thread runs (warm() or a check started it; stop() ends it). */
  get threadStarted(): boolean {
    return this.thread.started;
  }

  /** Ends the re-execution thread (a later check starts it again). */
  stop(): Promise<void> {
    this.stopping = true;
    return this.thread.stop();
  }

  /** Checks queued or running. */
  get backlog(): number {
    return this.pending;
  }

  status(): ValidatorStatus {
    const e = this.thread.state;
    return {
      executor: e?.executor ?? null,
      adapter: e?.adapter ?? null,
      fallback: e?.fallback ?? null,
      backlog: this.pending,
      peakBacklog: this.peak,
      checks: this.checks,
      meanMs: this.checks ? this.computeMs / this.checks : null,
      maxMs: this.checks ? this.maxMs : null,
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
    const queued = rows.filter((c) => sampled.includes(c.id)).map((c) => ({ c, needs: this.needsAtSampling(c, identities.get(c.account)!) }));
    for (const c of rows) this.lastSampled.set(c.account.toLowerCase(), sampled.includes(c.id));
    if (queued.length) {
      this.thetas.set(round, thetaR);
      this.enqueue(queued);
    }
    return sampled;
  }

  /**
   * Starts the re-execution thread ahead of the first check: its start-up (Dawn, pipelines, the
   * datasets' upload; 3 s for the MLP, 8 s and more for a GPT on SwiftShader) would otherwise
   * delay the first checks past the first reward epochs. The platform calls it when a round
   * opens, not at start: a coordinator that has hosted no round has no start-up in flight for
   * its shutdown (or the lead's next run) to wait out (stop() cannot end a thread whose Dawn is
   * starting).
   */
  warm(): Promise<void> {
    return this.thread.warm();
  }

  /**
   * Re-queue checks left unfinished by a restart; θ_r is rebuilt by replaying the published
   * updates. The re-execution thread starts now when there are any (warm()).
   */
  async resume(): Promise<number> {
    const ids = await this.deps.ledger.awaitingVerification(this.deps.run.id);
    if (ids.length) void this.warm();
    // After a restart nothing is carried: both residuals are asked for with the frame.
    this.enqueue((await this.deps.ledger.contributionsForVerification(ids)).map((c) => ({ c, needs: { before: true, after: true, leaves: NO_LEAVES } })));
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

  /**
   * What to ask for when a contribution is sampled: the residuals opened at SAMPLED_LEAVES random
   * leaves, and e_b in full besides unless this validator will hold it or an approximation of it
   * (the identity's previous accepted contribution was sampled here, or this is a new identity's
   * first: zeros). e_a is never asked in full here: work trained on a CPU is re-executed by the
   * same CPU arithmetic (bit-identical, e_a derived from its root), and WebGPU work by Dawn, within
   * float drift of the page, so its e_a is checked at the opened leaves and carried elsewhere as
   * e_b + Δ_ref − decode(F). (Asking for it in full cost 203 KB a check, 83 KB a peer a round in a
   * 6-page, 8-round `--nat` swarm; asking again when the check ran behind a backlog found honest
   * pages no longer holding that round, EVIDENCE_WITHHELD, 2026-12-06.)
   * A wrong guess costs a second request when the check runs (withResidualBefore, verifyOne).
   */
  private needsAtSampling(c: VerifiableContribution, id: { checksPassed: number; reputation: number }): EvidenceNeeds {
    const account = c.account.toLowerCase();
    const first = id.checksPassed === 0 && id.reputation === 0;
    const leaves = this.drawLeaves();
    if ((this.lastSampled.get(account) ?? first) && !this.brokenChain.has(account)) return { before: false, after: false, leaves };
    // The chain is broken (this identity's previous contribution was not checked here): e_b
    // opened at one codec chunk besides the sampled leaves, not in full (chunkOpening).
    const chunk = this.chunkOpening(leaves);
    if (!chunk) return { before: true, after: false, leaves };
    this.workLeaves.set(c.id, leaves);
    this.brokenChain.add(account);
    return { before: false, after: false, leaves: chunk };
  }

  /**
   * The sampled `leaves` and every leaf of one codec chunk drawn with the sampling coin (null when
   * that would pass MAX_ASKED_LEAVES: chunks of more than about 7,600 values). The codec keeps
   * top-k and a scale per chunk, so with e_b exact on a whole chunk the validator can compress
   * e_b + Δ_ref there as the page did and compare the frame on that chunk: the codec check of a
   * broken chain costs one chunk of each residual (about 37 KB for the MLP, 8 KB for the GPT
   * presets) instead of e_b in full (203 KB for the MLP, 41.7 MiB for gpt-small). The work check
   * still compares the sampled leaves alone.
   */
  private chunkOpening(leaves: number[]): number[] | null {
    const { paramCount, codec } = this.deps.run;
    const chunks = Math.ceil(paramCount / codec.chunkSize);
    const rand = this.deps.random ?? cryptoRandom;
    const j = Math.min(chunks - 1, Math.floor(rand() * chunks));
    const [from, to] = [j * codec.chunkSize, Math.min(paramCount, (j + 1) * codec.chunkSize)];
    const all = new Set(leaves);
    for (let l = Math.floor(from / RESIDUAL_LEAF); l * RESIDUAL_LEAF < to; l++) all.add(l);
    return all.size <= MAX_ASKED_LEAVES ? [...all].sort((a, b) => a - b) : null;
  }

  /** The value ranges of the codec chunks that `opening` holds whole. */
  private chunksOpened(opening: ResidualOpening): [number, number][] {
    const { paramCount, codec } = this.deps.run;
    const opened = new Set(opening.leaves.map((l) => l.index));
    const ranges: [number, number][] = [];
    for (let from = 0; from < paramCount; from += codec.chunkSize) {
      const to = Math.min(paramCount, from + codec.chunkSize);
      let whole = true;
      for (let l = Math.floor(from / RESIDUAL_LEAF); whole && l * RESIDUAL_LEAF < to; l++) whole = opened.has(l);
      if (whole) ranges.push([from, to]);
    }
    return ranges;
  }

  /** SAMPLED_LEAVES distinct leaf indices (all, for a residual with fewer), increasing, from the sampling coin. */
  private drawLeaves(): number[] {
    const count = residualLeafCount(this.deps.run.paramCount);
    const rand = this.deps.random ?? cryptoRandom;
    // A partial Fisher–Yates shuffle: distinct whatever the coin returns.
    const order = Uint32Array.from({ length: count }, (_, i) => i);
    const m = Math.min(SAMPLED_LEAVES, count);
    for (let k = 0; k < m; k++) {
      const j = k + Math.min(count - k - 1, Math.floor(rand() * (count - k)));
      [order[k], order[j]] = [order[j], order[k]];
    }
    return [...order.subarray(0, m)].sort((a, b) => a - b);
  }

  private enqueue(rows: { c: VerifiableContribution; needs: EvidenceNeeds }[]): void {
    for (const { c, needs } of rows) {
      this.pending++;
      this.peak = Math.max(this.peak, this.pending);
      // Asked now, while the member still holds it (a page keeps a few rounds of evidence, and
      // a backlog must not turn honest work into EVIDENCE_WITHHELD): the frame, the residuals
      // this validator cannot supply, and the others' digests.
      const evidence = this.ask(c, needs);
      this.queue = this.queue
        .then(() => this.verifyOne(c, evidence))
        .catch((e) =>
          this.stopping
            ? console.log(
                `[validator] contribution ${c.id}: its check stopped with the validator (${(e as Error).message}); undecided, it is checked when this run is hosted again`,
              )
            : console.error(`[validator] contribution ${c.id}: ${(e as Error).message}`),
        )
        .finally(() => {
          this.pending--;
          if (this.pending === 0) this.thetas.clear();
        });
    }
  }

  private ask(c: VerifiableContribution, needs: EvidenceNeeds): Promise<CheckedUpload | null> {
    return this.deps.evidence(c, needs).catch(() => null);
  }

  private async verifyOne(c: VerifiableContribution, asked: Promise<CheckedUpload | null>): Promise<void> {
    const penalty = { pass: 1, fail: FAIL_PENALTY };
    const upload = await asked;
    // The sampled leaves of an ask that opened a codec chunk besides (needsAtSampling), read once.
    const work = this.workLeaves.get(c.id);
    this.workLeaves.delete(c.id);
    const evidence = upload && (await this.withResidualBefore(c, upload, work));
    let out: ReexecOutcome | null = null;
    // The inner state's own checks (a reachable state, its step count, its chain) before any re-execution.
    const account = c.account.toLowerCase();
    const stateFailed = evidence?.state && innerStateCheck(this.deps.run, c, evidence.state, this.knownStates.get(account), evidence.stateDigests?.before);
    if (evidence && stateFailed) out = { result: stateFailed, residualAfter: null, derivable: false };
    else if (evidence) {
      const theta = this.thetas.get(c.round) ?? (await this.modelAt(c.round));
      out = await this.thread.check(theta, c, evidence);
      if ('needs' in out) {
        // e_a came as its root alone and the re-execution does not reproduce it bit for bit.
        this.residuals.uploaded++;
        this.residuals.askedAgain++;
        const spent = out.ms;
        const more = await this.ask(c, { before: false, after: true, leaves: NO_LEAVES });
        out = more && more.after instanceof Float32Array ? await this.thread.check(theta, c, { ...evidence, residualAfter: more.after }) : null;
        // The first attempt's re-execution is reused by the second (reexec.ts); its time counts.
        if (out && !('needs' in out)) out.result.detail.ms += spent;
      } else if (evidence.residualAfter instanceof Float32Array) this.residuals.uploaded++;
      else if (out.residualAfter?.exact) this.residuals.known++;
      else this.residuals.opened++;
      if (out && !('needs' in out)) out = await this.escalate(c, theta, evidence, out);
    }
    let result: CheckResult;
    if (!out || 'needs' in out) {
      result = {
        passed: false,
        rejection: {
          code: 'EVIDENCE_WITHHELD',
          prose: upload
            ? 'the member did not upload the residual the validator asked for in time'
            : 'the member committed a residual but did not upload its evidence in time',
        },
        detail: { ms: 0 },
      };
    } else {
      result = out.result;
      // Carried when the evidence matched the commitment (then the state after's digest is the committed one).
      const code = result.passed ? null : result.rejection.code;
      if (evidence?.state && !stateFailed && (code === null || code === 'WORK_MISMATCH' || code === 'FRAME_MISMATCH'))
        this.knownStates.set(account, {
          round: c.round,
          t: evidence.state.after.t,
          digest: evidence.stateDigests?.after ?? stateDigest(evidence.state.after.t, evidence.state.after.moments),
        });
      if (out.residualAfter) {
        this.carry(c.account, out.residualAfter);
        this.brokenChain.delete(c.account.toLowerCase());
      }
      this.derivable.set(c.account.toLowerCase(), out.derivable);
      this.checks++;
      this.computeMs += result.detail.ms;
      this.maxMs = Math.max(this.maxMs, result.detail.ms);
    }
    await this.deps.ledger.recordCheck(c.id, c.account, result.passed ? null : result.rejection, result.detail, penalty);
    this.deps.onChecked?.(c, result);
  }

  /**
   * A work check that failed on the sampled leaves alone is not yet a verdict: 8 leaves of 64
   * values can sit where Δ is small (weights of pixels that are almost never lit), and there an
   * honest page's float drift from the re-execution is a large share of Δ — a Chromium page's
   * round-2 contribution measured 3.16e-2 on its sampled leaves (e2e/swarm, 2026-12-07) and a
   * clean-clone CI run failed one at 1.03e-1, while whole-vector drift between the page and Dawn
   * stayed at 2e-7 … 2e-4. Before anyone is punished, both residuals are asked for in full and
   * the check runs again over every value; a member that did not do the work fails that too,
   * and one that cannot upload them keeps the sampled check's verdict.
   */
  private async escalate(
    c: VerifiableContribution,
    theta: Float32Array,
    evidence: CheckEvidence,
    out: Exclude<ReexecOutcome, { needs: unknown }>,
  ): Promise<Exclude<ReexecOutcome, { needs: unknown }>> {
    const r = out.result;
    if (r.passed || r.rejection.code !== 'WORK_MISMATCH' || !(r.detail.compared! < this.deps.run.paramCount)) return out;
    const whole = await this.ask(c, { before: true, after: true, leaves: NO_LEAVES });
    if (!whole || !(whole.before instanceof Float32Array) || !(whole.after instanceof Float32Array)) return out;
    this.residuals.uploaded += 2;
    this.residuals.askedAgain++;
    const again = await this.thread.check(theta, c, {
      frame: evidence.frame,
      residualBefore: whole.before,
      residualAfter: whole.after,
      state: evidence.state,
      stateDigests: evidence.stateDigests,
    });
    if ('needs' in again) return out;
    again.result.detail.ms += r.detail.ms;
    again.result.detail.escalated = { sampledRelDelta: r.detail.relDelta!, compared: r.detail.compared! };
    return again;
  }

  /**
   * The evidence with e_b in full: as uploaded, else the e_a this validator carried from the
   * identity's last checked contribution — exact, or its approximation with the member's opened
   * leaves — else zeros (a page's first contribution), whichever has the uploaded root; else (the
   * chain broke) e_b exact on a whole codec chunk only (CheckEvidence.partial), from this upload
   * when it was asked with one (`work`: its sampled leaves) or asked of the member now (null: not
   * uploaded in time).
   */
  private async withResidualBefore(c: VerifiableContribution, upload: CheckedUpload, work?: number[]): Promise<CheckEvidence | null> {
    // The inner state travels as uploaded with the residuals (run setting inner.state 'kept').
    const state = (up: CheckedUpload) => (up.state ? { state: up.state, stateDigests: up.stateDigests } : {});
    const full = (before: Float32Array, beforeDigest?: Hex, beforeOpening?: ResidualOpening): CheckEvidence => ({
      frame: upload.frame,
      residualBefore: before,
      beforeOpening,
      residualAfter: upload.after,
      beforeDigest,
      afterDigest: upload.afterDigest,
      ...state(upload),
    });
    const before = upload.before;
    if (before instanceof Float32Array) return (this.residuals.uploaded++, full(before, upload.beforeDigest));
    const zeros = new Float32Array(this.deps.run.paramCount);
    this.zeroDigest ??= residualDigest(zeros);
    const carried = this.carried.get(c.account.toLowerCase());
    const digest = upload.beforeDigest ?? residualDigest(before);
    if (carried && carried.digest === digest) {
      if (carried.exact) return (this.residuals.known++, full(carried.values, carried.digest));
      if (typeof before !== 'string') return (this.residuals.opened++, full(carried.values, carried.digest, before));
    }
    if (digest === this.zeroDigest) return (this.residuals.known++, full(zeros, this.zeroDigest));
    // The chain broke (a contribution this validator did not check, a page that lost its residual):
    // e_b opened at a whole codec chunk serves the codec check there; else it is asked for that.
    this.carried.delete(c.account.toLowerCase());
    this.brokenChain.add(c.account.toLowerCase());
    const partial = (up: CheckedUpload, workLeaves: number[]): CheckEvidence | null => {
      if (!isOpening(up.before) || !isOpening(up.after)) return null;
      const codecRanges = this.chunksOpened(up.before);
      if (!codecRanges.length) return null;
      this.residuals.opened++;
      return {
        frame: up.frame,
        residualBefore: zeros,
        beforeOpening: up.before,
        residualAfter: up.after,
        afterDigest: up.afterDigest,
        partial: { workLeaves, codecRanges },
        ...state(up),
      };
    };
    const fromUpload = work && partial(upload, work);
    if (fromUpload) return fromUpload;
    const leaves = this.drawLeaves();
    const chunk = this.chunkOpening(leaves);
    this.residuals.askedAgain++;
    if (chunk) {
      const more = await this.ask(c, { before: false, after: false, leaves: chunk });
      return more && partial(more, leaves);
    }
    this.residuals.uploaded++;
    const more = await this.ask(c, { before: true, after: false, leaves: NO_LEAVES });
    return more && more.before instanceof Float32Array ? { ...full(more.before, more.beforeDigest), ...state(more) } : null;
  }

  private carry(account: string, residual: { values: Float32Array; digest: Hex; exact: boolean }): void {
    const key = account.toLowerCase();
    this.carried.delete(key);
    this.carried.set(key, residual);
    let bytes = 0;
    for (const r of this.carried.values()) bytes += r.values.byteLength;
    for (const [k, r] of this.carried) {
      if (bytes <= CARRIED_RESIDUAL_BYTES) break;
      this.carried.delete(k);
      bytes -= r.values.byteLength;
    }
  }

  /** θ_round from the initial parameters and the published global updates, checked against the ledger's hash. */
  async modelAt(round: number): Promise<Float32Array> {
    const { run, ledger } = this.deps;
    const params = initParams(modelOf(run), run.seed);
    let m: LocalModel = {
      run: run.id,
      paramTableHash: run.paramTableHash,
      round: 0,
      modelHash: await runModelHash(run, params),
      params,
      momentum: new Float32Array(params.length),
    };
    for (let r = 0; r < round; r++) {
      const u = await ledger.update(run.id, r);
      // A round that applied nothing published no update: θ stays.
      m = u ? await applyGlobalUpdate(m, u, run) : { ...m, round: r + 1 };
    }
    const rounds = await ledger.rounds(run.id);
    const want = rounds.find((x) => x.round === round - 1)?.modelHash;
    if (want && m.modelHash !== want) throw new IdlegradError('INTERNAL', `replayed θ_${round} does not match the ledger's model hash`);
    return m.params;
  }
}
