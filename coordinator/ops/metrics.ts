// The coordinator's Prometheus metrics (GET /metrics, prom-client). Every counter and
// histogram is moved at the point where the thing happens (a hello accepted, a report acked or
// refused, a round opened or committed, a contribution decided or spot-checked, an epoch
// posted or failed, a ledger statement answered); the gauges read the running system when
// scraped (the validator's queue, the epoch poster's state). One registry per platform, so
// two platforms in one process (tests) do not share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CODES, type ErrorCode } from '../../shared/errors.ts';
import { REJECTION_CODES, type RejectionCode } from '../../shared/wire/index.ts';
import type { Sql } from '../db/index.ts';
import type { CommitPhases } from '../round/index.ts';

/** How many commits' phase figures GET /metrics/commit-phases keeps (the newest). */
export const COMMIT_PHASES_KEPT = 256;

export type RoundPhase = 'idle' | 'open' | 'committing';
const PHASES: RoundPhase[] = ['idle', 'open', 'committing'];
/** A report at the door: acknowledged (a pending ledger row), or refused with the error code the client got. */
export type ReportOutcome = 'acked' | ErrorCode;
/** A contribution at its round's commit, or at its spot check. */
export type DecisionOutcome = 'accepted' | RejectionCode;
export type CheckOutcome = 'verified' | RejectionCode;

/** What the scrape reads live (set by the platform for the run it hosts; absent parts read 0). */
export interface LiveReadings {
  validatorBacklog?: () => number;
  epochPostingFailing?: () => boolean;
}

export class OpsMetrics {
  readonly registry = new Registry();
  private readonly sessions: Gauge;
  private readonly sessionsOpened: Counter;
  private readonly reports: Counter;
  private readonly decisions: Counter;
  private readonly checks: Counter;
  private readonly phase: Gauge;
  private readonly rounds: Counter;
  private readonly commitSeconds: Histogram;
  private readonly commitPhaseSeconds: Histogram;
  private readonly recentCommits: CommitPhases[] = [];
  private readonly epochs: Counter;
  private readonly ledgerSeconds: Histogram;
  private readonly ledgerErrors: Counter;
  private commitStarted: number | null = null;
  live: LiveReadings = {};

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'idlegrad_' });
    this.sessions = new Gauge({ name: 'idlegrad_sessions', help: 'Volunteer sessions past hello, connected now', registers });
    this.sessionsOpened = new Counter({ name: 'idlegrad_sessions_opened_total', help: 'Volunteer sessions whose signed hello was accepted', registers });
    this.reports = new Counter({
      name: 'idlegrad_reports_total',
      help: 'Signed reports at the door, by outcome: acked (a pending ledger row) or the error code refusing it (shared/errors.ts)',
      labelNames: ['outcome'],
      registers,
    });
    this.decisions = new Counter({
      name: 'idlegrad_contributions_decided_total',
      help: "Contributions at their round's commit, by outcome: accepted or the RejectionCode (shared/wire/rejections.ts)",
      labelNames: ['outcome'],
      registers,
    });
    this.checks = new Counter({
      name: 'idlegrad_spot_checks_total',
      help: 'Spot checks finished by the validator, by outcome: verified or the RejectionCode',
      labelNames: ['outcome'],
      registers,
    });
    this.phase = new Gauge({
      name: 'idlegrad_round_phase',
      help: "1 for the round engine's current phase, 0 for the others",
      labelNames: ['phase'],
      registers,
    });
    this.rounds = new Counter({ name: 'idlegrad_rounds_total', help: 'Round transitions: opened, committed', labelNames: ['event'], registers });
    this.commitSeconds = new Histogram({
      name: 'idlegrad_commit_seconds',
      help: 'From a round starting to commit (its deadline, or its last input) to its ledger commit and publication',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.commitPhaseSeconds = new Histogram({
      name: 'idlegrad_commit_phase_seconds',
      help: 'Wall time of each phase of a round commit (coordinator/round/commit-phases.ts), by phase',
      labelNames: ['phase'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const backlog: Gauge = new Gauge({
      name: 'idlegrad_validator_backlog',
      help: 'Spot checks waiting for or in re-execution',
      registers,
      collect: () => backlog.set(this.live.validatorBacklog?.() ?? 0),
    });
    this.epochs = new Counter({
      name: 'idlegrad_epoch_posts_total',
      help: 'Reward epoch postings to the chain, by result: posted, failed (retried)',
      labelNames: ['result'],
      registers,
    });
    const failing: Gauge = new Gauge({
      name: 'idlegrad_epoch_posting_failing',
      help: '1 while the latest epoch posting is failing and being retried',
      registers,
      collect: () => failing.set(this.live.epochPostingFailing?.() ? 1 : 0),
    });
    this.ledgerSeconds = new Histogram({
      name: 'idlegrad_ledger_seconds',
      help: 'Ledger statements from call to answer, by kind: query, exec, transaction',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.ledgerErrors = new Counter({ name: 'idlegrad_ledger_errors_total', help: 'Ledger statements that failed, by kind', labelNames: ['kind'], registers });
    // Every outcome present from the first scrape, at 0: a rate over a series that appears late is wrong.
    for (const outcome of ['acked', ...ERROR_CODES]) this.reports.inc({ outcome }, 0);
    for (const outcome of ['accepted', ...REJECTION_CODES]) this.decisions.inc({ outcome }, 0);
    for (const outcome of ['verified', ...REJECTION_CODES]) this.checks.inc({ outcome }, 0);
    for (const event of ['opened', 'committed']) this.rounds.inc({ event }, 0);
    for (const result of ['posted', 'failed']) this.epochs.inc({ result }, 0);
    this.roundPhase('idle');
  }

  sessionOpened(): void {
    this.sessions.inc();
    this.sessionsOpened.inc();
  }
  sessionClosed(): void {
    this.sessions.dec();
  }
  report(outcome: ReportOutcome): void {
    this.reports.inc({ outcome });
  }
  decided(accepted: number, rejected: RejectionCode[]): void {
    if (accepted) this.decisions.inc({ outcome: 'accepted' }, accepted);
    for (const code of rejected) this.decisions.inc({ outcome: code });
  }
  checked(outcome: CheckOutcome): void {
    this.checks.inc({ outcome });
  }
  /** The round engine's phase changes (coordinator/round/engine.ts events.phase). */
  roundPhase(phase: RoundPhase, now = performance.now()): void {
    for (const p of PHASES) this.phase.set({ phase: p }, p === phase ? 1 : 0);
    // 'open' straight after 'committing' is a commit that threw: the same round, still open, not a new one.
    if (phase === 'open' && this.commitStarted === null) this.rounds.inc({ event: 'opened' });
    if (phase === 'open') this.commitStarted = null;
    if (phase === 'committing') this.commitStarted = now;
    if (phase === 'idle' && this.commitStarted !== null) {
      this.rounds.inc({ event: 'committed' });
      this.commitSeconds.observe((now - this.commitStarted) / 1000);
      this.commitStarted = null;
    }
  }
  /** A commit's phase figures (engine events.commitPhases): observed by phase, and kept for GET /metrics/commit-phases. */
  commitPhases(c: CommitPhases): void {
    for (const [phase, f] of Object.entries(c.phases)) this.commitPhaseSeconds.observe({ phase }, f.wallMs / 1000);
    this.recentCommits.push(c);
    if (this.recentCommits.length > COMMIT_PHASES_KEPT) this.recentCommits.shift();
  }
  /** The newest commits' phase figures, oldest first. */
  get commits(): readonly CommitPhases[] {
    return this.recentCommits;
  }
  epochPosted(): void {
    this.epochs.inc({ result: 'posted' });
  }
  epochFailed(): void {
    this.epochs.inc({ result: 'failed' });
  }

  /** The ledger's Sql surface, each statement timed (a failure counted by kind as well). */
  timedSql(sql: Sql): Sql {
    const time = async <T>(kind: string, run: () => Promise<T>): Promise<T> => {
      const end = this.ledgerSeconds.startTimer({ kind });
      try {
        return await run();
      } catch (e) {
        this.ledgerErrors.inc({ kind });
        throw e;
      } finally {
        end();
      }
    };
    return {
      query: (text, params) => time('query', () => sql.query(text, params)),
      exec: (text) => time('exec', () => sql.exec(text)),
      transaction: (fn) => time('transaction', () => sql.transaction(fn)),
      close: () => sql.close(),
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
  get contentType(): string {
    return this.registry.contentType;
  }
}

/** One series' value in the Prometheus text (`name{labels}` as exposed), or undefined when it is absent. */
export function sampleOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
