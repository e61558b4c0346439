// Posts reward epochs (coordinator/rewards.ts) so that a failure never stops the coordinator:
// an RPC outage, an owner out of gas or a refused transaction is caught, logged, shown on the
// dashboard (EpochPostingStatus) and retried with exponential backoff until it goes through.
// Credit is cumulative, so the newest epoch boundary is the only one worth retrying: its tree
// holds everything earlier boundaries would have posted.
import type { Hex } from 'viem';
import type { EpochPostingStatus } from '../../shared/wire/index.ts';
import { epochCoversRound, type Sql } from '../db/index.ts';
import type { Rewards } from './epochs.ts';

export interface EpochPosterOptions {
  /** The run's `rewards.epochRounds`: an epoch closes after every that many committed rounds. */
  epochRounds: number;
  runId: number;
  log: (line: string) => void;
  /** Called when the status changes (the dashboard is pushed). */
  changed?: () => void;
  /** First retry after this long, doubling per failure up to maxDelayMs. Default 1 000 ms. */
  baseDelayMs?: number;
  /** Default 60 000 ms. */
  maxDelayMs?: number;
}

export class EpochPoster {
  private pending: { round: number; modelHash: Hex } | null = null;
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private state: EpochPostingStatus = { failing: false, attempts: 0, lastError: null, lastErrorAt: null, nextRetryAt: null };

  constructor(
    private readonly rewards: Pick<Rewards, 'postEpoch' | 'reconcile'>,
    private readonly sql: Sql,
    private readonly opts: EpochPosterOptions,
  ) {}

  get status(): EpochPostingStatus {
    return { ...this.state };
  }

  /** After round `round` committed. Never rejects: failures are retried, not thrown. */
  afterCommit(round: number, modelHash: Hex): Promise<void> {
    if ((round + 1) % this.opts.epochRounds !== 0) return this.queue;
    this.pending = { round, modelHash };
    return this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private kick(): Promise<void> {
    this.queue = this.queue.then(() => this.attempt());
    return this.queue;
  }

  private async attempt(): Promise<void> {
    const p = this.pending;
    if (!p || this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      // Epochs opened but not posted (an earlier failure after the ledger opened one) first;
      // then this boundary's, unless that was it.
      await this.rewards.reconcile();
      if (!(await this.covered(p.round))) await this.rewards.postEpoch(p.round, p.modelHash);
      if (this.pending === p) this.pending = null;
      if (this.state.failing) this.opts.log(`rewards: epoch posting recovered after ${this.state.attempts} failed attempt(s)`);
      this.state = { failing: false, attempts: 0, lastError: null, lastErrorAt: null, nextRetryAt: null };
    } catch (e) {
      const attempts = this.state.attempts + 1;
      const delay = Math.min(this.opts.maxDelayMs ?? 60_000, (this.opts.baseDelayMs ?? 1_000) * 2 ** (attempts - 1));
      const message = ((e as Error)?.message ?? String(e)).split('\n')[0].slice(0, 300);
      this.state = { failing: true, attempts, lastError: message, lastErrorAt: Date.now(), nextRetryAt: Date.now() + delay };
      this.opts.log(`rewards: posting the epoch after round ${p.round} failed (attempt ${attempts}): ${message}; retrying in ${delay} ms`);
      if (!this.stopped) this.timer = setTimeout(() => void this.kick(), delay);
    }
    this.opts.changed?.();
  }

  /** Whether the ledger already holds an epoch of this run at or after `round`. */
  private async covered(round: number): Promise<boolean> {
    return epochCoversRound(this.sql, this.opts.runId, round);
  }
}
