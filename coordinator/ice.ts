// NAT traversal settings and the ICE grants handed to volunteers.
//
// Static servers come from IDLEGRAD_ICE_SERVERS (JSON, RTCIceServer shape: usually public
// STUN). TURN uses coturn's REST scheme (`use-auth-secret` + `static-auth-secret`): the
// coordinator and coturn share a secret; each volunteer gets username `<expiry>:<id>` (unix
// seconds) and credential base64(HMAC-SHA1(secret, username)), which coturn checks without a
// user database and refuses after the expiry. A session's grant is renewed (message `ice`) at
// half its lifetime, so a page always dials with credentials valid for a while yet.
import { createHmac } from 'node:crypto';
import { IdlegradError } from '../shared/errors.ts';
import { parseIceServers, parseJson, type IceGrant, type IceServer } from '../shared/wire/index.ts';

export interface TurnSettings {
  /** turn:/turns: URLs of servers sharing `secret` (coturn `static-auth-secret`). */
  urls: string[];
  secret: string;
  /** Credential lifetime in seconds. */
  ttlS: number;
}

export interface IceSettings {
  /** Handed to every page as they are (IDLEGRAD_ICE_SERVERS). */
  servers: IceServer[];
  /** TURN with short-lived credentials; null: none. */
  turn: TurnSettings | null;
}

export const NO_ICE: IceSettings = { servers: [], turn: null };
export const DEFAULT_TURN_TTL_S = 3600;
const MIN_TURN_TTL_S = 60;

/**
 * IDLEGRAD_ICE_SERVERS, IDLEGRAD_TURN_URLS (comma-separated), IDLEGRAD_TURN_SECRET and
 * IDLEGRAD_TURN_TTL (seconds). Throws naming the variable and keypath that is wrong.
 */
export function iceSettingsFromEnv(env: NodeJS.ProcessEnv): IceSettings {
  let servers: IceServer[] = [];
  try {
    if (env.IDLEGRAD_ICE_SERVERS) servers = parseIceServers(parseJson(env.IDLEGRAD_ICE_SERVERS, 'IDLEGRAD_ICE_SERVERS'), 'IDLEGRAD_ICE_SERVERS');
  } catch (e) {
    throw e instanceof IdlegradError ? new Error(e.shortMessage, { cause: e }) : e;
  }
  const urlList =
    env.IDLEGRAD_TURN_URLS?.split(',')
      .map((u) => u.trim())
      .filter(Boolean) ?? [];
  const secret = env.IDLEGRAD_TURN_SECRET || undefined;
  if (urlList.length && !secret) throw new Error('IDLEGRAD_TURN_URLS is set without IDLEGRAD_TURN_SECRET: give the secret coturn has as static-auth-secret');
  if (secret && !urlList.length)
    throw new Error('IDLEGRAD_TURN_SECRET is set without IDLEGRAD_TURN_URLS: give the TURN server URLs (turn:host:3478,turns:host:5349)');
  for (const u of urlList) if (!/^turns?:[^\s]+$/.test(u)) throw new Error(`IDLEGRAD_TURN_URLS: expected turn: or turns: URLs, got ${JSON.stringify(u)}`);
  if (secret !== undefined && secret.length < 16)
    throw new Error('IDLEGRAD_TURN_SECRET: expected at least 16 characters (anyone who guesses it can mint TURN credentials)');
  const ttlS = env.IDLEGRAD_TURN_TTL === undefined ? DEFAULT_TURN_TTL_S : Number(env.IDLEGRAD_TURN_TTL);
  if (!Number.isInteger(ttlS) || ttlS < MIN_TURN_TTL_S || ttlS > 7 * 86_400) {
    throw new Error(`IDLEGRAD_TURN_TTL: expected whole seconds in [${MIN_TURN_TTL_S}, 604800], got ${JSON.stringify(env.IDLEGRAD_TURN_TTL)}`);
  }
  return { servers, turn: secret ? { urls: urlList, secret, ttlS } : null };
}

/** coturn's REST credential for `username`: base64(HMAC-SHA1(secret, username)). */
export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** The servers a page gets now; `id` names the holder in the TURN username (coturn logs it). */
export function grantIce(settings: IceSettings, id: string, nowMs: number): IceGrant {
  if (!settings.turn) return { servers: settings.servers, expiresAt: null };
  const { urls, secret, ttlS } = settings.turn;
  const expiry = Math.floor(nowMs / 1000) + ttlS;
  const username = `${expiry}:${id}`;
  return { servers: [...settings.servers, { urls, username, credential: turnCredential(secret, username) }], expiresAt: expiry * 1000 };
}

export interface IceTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const REAL_TIMERS: IceTimers = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/**
 * A session's grants: the first (for `welcome`), then `renew` with a fresh one at half of each
 * grant's lifetime, until stop(). Without TURN nothing expires and nothing is scheduled.
 */
export function keepIceFresh(
  settings: IceSettings,
  id: string,
  renew: (grant: IceGrant) => void,
  timers: IceTimers = REAL_TIMERS,
): { first: IceGrant; stop(): void } {
  let handle: unknown = null;
  let stopped = false;
  const schedule = (g: IceGrant) => {
    if (g.expiresAt === null || stopped) return;
    handle = timers.setTimeout(
      () => {
        const next = grantIce(settings, id, timers.now());
        renew(next);
        schedule(next);
      },
      Math.max(1_000, (g.expiresAt - timers.now()) / 2),
    );
  };
  const first = grantIce(settings, id, timers.now());
  schedule(first);
  return {
    first,
    stop() {
      stopped = true;
      if (handle !== null) timers.clearTimeout(handle);
    },
  };
}
