// Server time as seen from this browser. Round deadlines (startsAt, exchangeEndsAt,
// reportEndsAt) are server epoch milliseconds; every server message that carries
// `serverTime` is one observation of the offset.
//
// An observation `serverTime − localReceipt` underestimates the true offset by the
// message's one-way delay (never negative), so the best estimate over a recent window is
// the largest observation (NTP's minimum-delay filter). The window lets a clock step age out.
//
// Local time is the page's monotonic clock (performance.timeOrigin + performance.now()), not
// Date.now(): a wall-clock step — NTP correcting a drifted laptop, a volunteer setting the
// time — would otherwise stay in the max filter for `window` messages, and a clock stepped
// 30 s forward read every round's training budget (startsAt + trainMs − now) as spent, so the
// page trained one step a round until the step aged out.

/** Epoch milliseconds from the page's monotonic clock: immune to wall-clock steps. */
export const monotonicNow = (): number => performance.timeOrigin + performance.now();

export class ServerClock {
  private readonly samples: number[] = [];

  constructor(
    private readonly localNow: () => number = monotonicNow,
    /** Observations kept (most recent). */
    private readonly window = 16,
  ) {}

  /** Record a `serverTime` stamp from a message that arrived just now. */
  observe(serverTime: number): void {
    if (!Number.isFinite(serverTime)) return;
    this.samples.push(serverTime - this.localNow());
    if (this.samples.length > this.window) this.samples.shift();
  }

  /** Milliseconds to add to local time to get server time (0 before any observation). */
  get offset(): number {
    return this.samples.length === 0 ? 0 : Math.max(...this.samples);
  }

  /** Current server time, epoch ms. */
  now(): number {
    return this.localNow() + this.offset;
  }

  /** Milliseconds from now until a server-time instant (negative when it has passed). */
  msUntil(serverTime: number): number {
    return serverTime - this.now();
  }
}

/** Timers in server time: what the exchange and the round runner schedule against. */
export interface Scheduler {
  now(): number;
  /** Calls fn after `ms`; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export function clockScheduler(clock: ServerClock): Scheduler {
  return {
    now: () => clock.now(),
    after: (ms, fn) => {
      const id = setTimeout(fn, Math.max(0, ms));
      return () => clearTimeout(id);
    },
  };
}
