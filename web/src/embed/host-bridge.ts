// The widget frame's side of the postMessage channel with the partner page that embeds it
// (public/embed.js is the other side). Posts go to the host's exact origin only, so a page
// that frames embed.html while claiming another origin receives nothing; messages are taken
// only from the parent window with that exact origin, and the only command is 'stop': a host
// page can stop the widget, never start it. Nothing secret crosses: no key, no address.
import type { VolunteerSnapshot } from '../client/volunteer.ts';

export interface HostState {
  type: 'idlegrad:state';
  state: VolunteerSnapshot['state'];
  phase: VolunteerSnapshot['phase'];
  round: number | null;
  creditWei: string;
  contributions: Record<string, number>;
  device: 'webgpu' | 'cpu' | null;
}

export interface HostContribution {
  type: 'idlegrad:contribution';
  round: number | null;
  state: string;
  /** Why it was refused (shared/wire/rejections.ts), and the prose; null when it was not. */
  code: string | null;
  reason: string | null;
}

/** The `host` query parameter as an exact http(s) origin, or null. */
export function hostOriginOf(raw: string | null): string | null {
  if (!raw) return null;
  try {
    const u = new URL(raw);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === raw ? raw : null;
  } catch {
    return null;
  }
}

export interface BridgeDeps {
  host: string;
  parent: Pick<Window, 'postMessage'>;
  subscribe: (fn: (s: VolunteerSnapshot) => void) => () => void;
  stop: () => void;
  /** Where 'message' events arrive (this frame's window). */
  events: Pick<Window, 'addEventListener' | 'removeEventListener'>;
}

export function connectHost(d: BridgeDeps): () => void {
  let lastState = '';
  let lastAck: string | null = null;
  const seen = new Map<number, string>();
  let seeded = false;
  const post = (m: HostState | HostContribution) => d.parent.postMessage(m, d.host);
  const unsubscribe = d.subscribe((s) => {
    const state: HostState = {
      type: 'idlegrad:state',
      state: s.state,
      phase: s.phase,
      round: s.round,
      creditWei: s.account?.creditWei ?? '0',
      contributions: { ...(s.account?.contributions ?? {}) },
      device: s.gpu.device === null ? null : s.gpu.device === 'cpu' ? 'cpu' : 'webgpu',
    };
    const key = JSON.stringify(state);
    if (key !== lastState) {
      lastState = key;
      post(state);
    }
    if (s.lastAck && s.lastAck.nonce !== lastAck) {
      lastAck = s.lastAck.nonce;
      post({ type: 'idlegrad:contribution', round: s.lastAck.round, state: s.lastAck.state, code: null, reason: s.lastAck.reason });
    }
    // Later states of recent contributions (accepted, verified, batched …) as the ledger moves them.
    for (const r of s.account?.recent ?? []) {
      if (r.id === undefined) continue;
      const was = seen.get(r.id);
      seen.set(r.id, r.state);
      if (seeded && was !== r.state && !(was === undefined && r.state === 'pending'))
        post({ type: 'idlegrad:contribution', round: r.round, state: r.state, code: r.code, reason: r.reason });
    }
    if (s.account) seeded = true;
  });
  const onMessage = (e: MessageEvent) => {
    if (e.source !== d.parent || e.origin !== d.host) return;
    if ((e.data as { type?: unknown } | null)?.type === 'idlegrad:stop') d.stop();
  };
  d.events.addEventListener('message', onMessage as EventListener);
  return () => {
    unsubscribe();
    d.events.removeEventListener('message', onMessage as EventListener);
  };
}
