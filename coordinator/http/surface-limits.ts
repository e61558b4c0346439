// Limits on the coordinator's WebSocket surface, per client address: a socket that never says
// `hello` (or `subscribe`, for a dashboard) is closed after helloTimeoutMs; one address holds at
// most sessionsPerIp sockets (loopback: loopbackSessionsPerIp, generous, for the swarm, load
// and end-to-end tests that run hundreds of volunteers from one machine); each socket may send
// messagesPerSecond messages on average with bursts of messageBurst (loopback:
// loopbackMessagesPerSecond), and a message over that is answered LIMIT_EXCEEDED and not handled.

export interface SurfaceLimits {
  /** Default 15 000 ms. */
  helloTimeoutMs: number;
  /** Default 16 sockets per non-loopback address (a household or office behind one NAT). */
  sessionsPerIp: number;
  /** Default 100 000 (effectively unlimited: tests, swarms and load runs live on loopback). */
  loopbackSessionsPerIp: number;
  /** Default 20 messages/s per socket on average… */
  messagesPerSecond: number;
  /** …with bursts of up to 100 (a reconnecting page replays its outbox of reports). */
  messageBurst: number;
  /** The rate (and burst) on loopback. Default 100 000 (the fuzz and load tests' sockets). */
  loopbackMessagesPerSecond: number;
}

export const DEFAULT_SURFACE_LIMITS: SurfaceLimits = {
  helloTimeoutMs: 15_000,
  sessionsPerIp: 16,
  loopbackSessionsPerIp: 100_000,
  messagesPerSecond: 20,
  messageBurst: 100,
  loopbackMessagesPerSecond: 100_000,
};

/** Validates a partial override (env IDLEGRAD_LIMITS, JSON) over the defaults, naming the bad field. */
export function surfaceLimitsOf(over: unknown): SurfaceLimits {
  if (over === undefined) return { ...DEFAULT_SURFACE_LIMITS };
  if (typeof over !== 'object' || over === null || Array.isArray(over)) throw new Error('IDLEGRAD_LIMITS: expected a JSON object');
  const out: SurfaceLimits = { ...DEFAULT_SURFACE_LIMITS };
  for (const [k, v] of Object.entries(over)) {
    if (!(k in DEFAULT_SURFACE_LIMITS))
      throw new Error(`IDLEGRAD_LIMITS.${k}: not a limit (expected one of ${Object.keys(DEFAULT_SURFACE_LIMITS).join(', ')})`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`IDLEGRAD_LIMITS.${k}: expected a positive number, got ${JSON.stringify(v)}`);
    out[k as keyof SurfaceLimits] = v;
  }
  return out;
}

export const isLoopback = (ip: string | undefined): boolean => !!ip && (ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.'));

/** Sockets per client address. */
export class SessionCounter {
  private readonly open = new Map<string, number>();
  constructor(private readonly limits: SurfaceLimits) {}

  /** Counts a new socket from `ip`, or returns the limit it would exceed. */
  admit(ip: string): { ok: true } | { ok: false; limit: number } {
    const limit = isLoopback(ip) ? this.limits.loopbackSessionsPerIp : this.limits.sessionsPerIp;
    const n = this.open.get(ip) ?? 0;
    if (n >= limit) return { ok: false, limit };
    this.open.set(ip, n + 1);
    return { ok: true };
  }

  release(ip: string): void {
    const n = (this.open.get(ip) ?? 1) - 1;
    if (n <= 0) this.open.delete(ip);
    else this.open.set(ip, n);
  }
}

/** A token bucket per socket from `ip`: take() is false when the message is over the rate. */
export function messageBucket(limits: SurfaceLimits, ip: string, now: () => number = Date.now): () => boolean {
  const rate = isLoopback(ip) ? limits.loopbackMessagesPerSecond : limits.messagesPerSecond;
  const burst = isLoopback(ip) ? Math.max(limits.messageBurst, rate) : limits.messageBurst;
  let tokens = burst;
  let last = now();
  return () => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * rate);
    last = t;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}
