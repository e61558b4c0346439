// The spot-check validator (DESIGN.md step 8): a sampled fraction of accepted contributions
// is re-executed and compared with what the member committed (checks.ts says what is
// compared and why); the result moves the contribution `accepted → verified` or
// `accepted → rejected (reason)` and moves the identity's reputation (settings.ts). Checks
// run after the round commits (they never delay a round) and before the epoch that would
// pay the credit: a sampled contribution stays out of `Ledger.cumulativeCredit` until its
// check ends.
import { modelOf, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { applyGlobalUpdate, type LocalModel } from '../../shared/round.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { IdlegradError } from '../../shared/errors.ts';
import type { Evidence, ValidatorStatus } from '../../shared/wire/index.ts';
import type { Ledger, VerifiableContribution } from '../db/index.ts';
import { ReexecThread, type ExecutorState } from './reexec-thread.ts';
import type { CheckResult } from './checks.ts';
import { FAIL_PENALTY, samplingRate, verificationOf } from './settings.ts';

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
      run: deps.run,
      settings: this.settings,
      train: deps.train,
      heldOut: deps.heldOut,
      gpu: deps.gpu,
      onExecutor: (s) =>
        log(
          s.executor === 'dawn'
            ? `validator: spot checks re-execute with the WGSL kernels through Dawn (${s.adapter})`
            : `validator: spot checks re-execute with the CPU reference, not Dawn (${s.fallback})`,
        ),
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
      result = {
        passed: false,
        rejection: { code: 'EVIDENCE_WITHHELD', prose: 'the member committed a residual but did not upload its evidence in time' },
        detail: { ms: 0 },
      };
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
    let m: LocalModel = {
      run: run.id,
      paramTableHash: run.paramTableHash,
      round: 0,
      modelHash: hashParams(params),
      params,
      momentum: new Float32Array(params.length),
    };
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
