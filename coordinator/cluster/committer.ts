// The committer of one run (issue 17 item 4): it waits for the run's lease (PostgreSQL,
// coordinator/db/committer-lease.ts), renews it while it lives, writes the ledger only through
// the lease's fence, and after a takeover reads the round its predecessor left open back from
// the bus (round-bus.ts) instead of aborting it. What it does not do yet: hand that round to the
// round engine to commit (the engine keeps an open round's aggregates in memory; item 4's object
// store and an engine entry point for a resumed round come next).
import { Ledger, acquireCommitterLease, fencedSql, releaseCommitterLease, renewCommitterLease, type CommitterLease, type Sql } from '../db/index.ts';
import type { RoundBus } from './round-bus.ts';

export interface CommitterOptions {
  runId: number;
  /** Who holds the lease, for the ledger and for people: e.g. `host:pid`. */
  holder: string;
  /** How long the lease lives without a renewal: what a crash costs before a successor commits. Default 10 s. */
  ttlMs?: number;
  /** How often the holder renews. Default ttlMs / 3. */
  renewEveryMs?: number;
  /** How often a waiting committer tries to take the lease. Default 500 ms. */
  pollMs?: number;
  /** Called once when this committer lost its lease (expired unrenewed, or taken): it must stop committing. */
  onDeposed?: (why: string) => void;
}

export class Committer {
  private timer: NodeJS.Timeout | null = null;
  private deposed: string | null = null;
  /** A Ledger whose every statement is fenced by this committer's token. */
  readonly ledger: Ledger;

  private constructor(
    private readonly sql: Sql,
    readonly lease: CommitterLease,
    private readonly opts: Required<Pick<CommitterOptions, 'ttlMs' | 'renewEveryMs'>> & CommitterOptions,
  ) {
    this.ledger = new Ledger(fencedSql(sql, lease));
  }

  /** Resolves once this process holds the run's lease (polling every pollMs), or rejects when `signal` aborts. */
  static async acquire(sql: Sql, opts: CommitterOptions, signal?: AbortSignal): Promise<Committer> {
    const ttlMs = opts.ttlMs ?? 10_000;
    const full = { ...opts, ttlMs, renewEveryMs: opts.renewEveryMs ?? Math.floor(ttlMs / 3) };
    for (;;) {
      signal?.throwIfAborted();
      const lease = await acquireCommitterLease(sql, opts.runId, opts.holder, ttlMs);
      if (lease) {
        const c = new Committer(sql, lease, full);
        c.renewLoop();
        return c;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  }

  private renewLoop(): void {
    let renewedAt = performance.now();
    const tick = async () => {
      try {
        if (await renewCommitterLease(this.sql, this.lease, this.opts.ttlMs)) {
          renewedAt = performance.now();
          return;
        }
        this.depose(`lease of run ${this.lease.runId} (token ${this.lease.token}) was taken by a newer token`);
      } catch (e) {
        // The database is unreachable: the lease runs out on its own clock; stop committing when it may have.
        if (performance.now() - renewedAt >= this.opts.ttlMs) this.depose(`could not renew the lease for ${this.opts.ttlMs} ms: ${(e as Error).message}`);
      }
    };
    this.timer = setInterval(() => void tick(), this.opts.renewEveryMs);
  }

  private depose(why: string): void {
    if (this.deposed) return;
    this.deposed = why;
    this.stopRenewing();
    this.opts.onDeposed?.(why);
  }

  /** Null while this committer holds the lease as far as it knows; else why it lost it. */
  get deposedBecause(): string | null {
    return this.deposed;
  }

  /** Stops renewing without releasing: what a frozen or crashed host looks like to the others. */
  stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * The round the ledger expects next (`nextRound`, the model state's round) if the bus shows it
   * open: its opening and every acknowledged report published for it since its opening, in
   * stream order. Null when that round never opened on the bus or already committed there.
   */
  async resume(bus: RoundBus, nextRound: number): Promise<Awaited<ReturnType<RoundBus['openRound']>>> {
    const open = await bus.openRound();
    return open && open.opening.round === nextRound ? open : null;
  }

  /** A clean stop: no more renewals, and the lease ends now so a successor need not wait for it. */
  async release(): Promise<void> {
    this.stopRenewing();
    if (!this.deposed) await releaseCommitterLease(this.sql, this.lease);
    this.deposed ??= 'released';
  }
}
