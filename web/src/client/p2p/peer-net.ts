// PeerJS glue: the signalling peer, DataConnection → PeerLink, and routing of incoming
// connections to the current round's exchange. Everything protocol-shaped lives in
// exchange.ts; this file only adapts events.
import { Peer, type DataConnection } from 'peerjs';
import type { CohortExchange } from './exchange.ts';
import type { PeerLink } from './links.ts';
import type { IceServer } from '../../../../shared/wire/index.ts';

/** `ig-` + 16 hex characters from the CSPRNG. */
export function randomPeerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `ig-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The coordinator's PeerServer at /peerjs on this origin; no ICE servers (host candidates) until `useIceServers`. */
export function createPeer(peerId: string, loc: Pick<Location, 'hostname' | 'port' | 'protocol'> = location): Peer {
  return new Peer(peerId, {
    host: loc.hostname,
    port: Number(loc.port || (loc.protocol === 'https:' ? 443 : 80)),
    path: '/peerjs',
    secure: loc.protocol === 'https:',
    config: { iceServers: [] },
    debug: 0,
  });
}

/**
 * The ICE servers (STUN, TURN with the coordinator's short-lived credentials) for every
 * RTCPeerConnection this peer creates from now on: PeerJS reads `options.config` at each
 * connect and answer, so a renewed grant reaches the next link without a new Peer.
 */
export function useIceServers(peer: Peer, servers: IceServer[]): void {
  peer.options.config = { ...peer.options.config, iceServers: servers };
}

/** Resolves when the PeerServer registered the id; rejects on the first error before that. */
export function whenPeerOpen(peer: Peer, timeoutMs = 15_000): Promise<string> {
  if (peer.open) return Promise.resolve(peer.id);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the signalling server did not register this peer within ${timeoutMs / 1000} s`)), timeoutMs);
    const onOpen = (id: string) => done(null, id);
    const onError = (e: Error) => done(e);
    const done = (err: Error | null, id?: string) => {
      clearTimeout(timer);
      peer.off('open', onOpen);
      peer.off('error', onError);
      if (err) reject(err);
      else resolve(id!);
    };
    peer.on('open', onOpen);
    peer.on('error', onError);
  });
}

/** Adapts a PeerJS raw-serialization DataConnection; buffers events until handlers are set. */
export function linkFromConnection(conn: DataConnection): PeerLink {
  let openFn: (() => void) | null = null;
  let dataFn: ((d: string | Uint8Array) => void) | null = null;
  let closeFn: ((reason: string) => void) | null = null;
  let opened = conn.open;
  let closed: string | null = null;
  const pending: (string | Uint8Array)[] = [];

  conn.on('open', () => {
    opened = true;
    openFn?.();
  });
  conn.on('data', (raw: unknown) => {
    const d =
      typeof raw === 'string'
        ? raw
        : raw instanceof ArrayBuffer
          ? new Uint8Array(raw)
          : ArrayBuffer.isView(raw)
            ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)
            : null;
    if (d === null) return; // raw mode only delivers strings and ArrayBuffers
    if (dataFn) dataFn(d);
    else pending.push(d);
  });
  const onGone = (reason: string) => {
    if (closed !== null) return;
    closed = reason;
    closeFn?.(reason);
  };
  conn.on('close', () => onGone('closed'));
  conn.on('error', (e) => onGone(`error: ${e.type ?? ''} ${e.message}`.trim()));
  conn.on('iceStateChanged', (state) => {
    if (state === 'failed' || state === 'closed') onGone(`ICE ${state}`);
  });

  return {
    remotePeerId: conn.peer,
    get channel() {
      return opened && conn.dataChannel ? conn.dataChannel : null;
    },
    send(data) {
      conn.send(data);
    },
    close() {
      conn.close();
    },
    onOpen(fn) {
      openFn = fn;
      if (opened) queueMicrotask(fn);
    },
    onData(fn) {
      dataFn = fn;
      for (const d of pending.splice(0)) fn(d);
    },
    onClose(fn) {
      closeFn = fn;
      if (closed !== null) queueMicrotask(() => fn(closed!));
    },
  };
}

/** Opens a reliable raw data connection to a cohort member. */
export function dialPeer(peer: Peer, peerId: string): PeerLink {
  return linkFromConnection(peer.connect(peerId, { reliable: true, serialization: 'raw' }));
}

/**
 * Routes incoming connections to the exchange of the current round. A connection that
 * arrives before this page has heard of its round (the other member got `round` first) is
 * held for `holdMs` and handed over if a matching exchange appears; anything else is closed.
 */
export class IncomingRouter {
  private exchange: CohortExchange | null = null;
  private held: { link: PeerLink; until: number }[] = [];

  constructor(
    peer: Peer,
    private readonly onRejected: (peerId: string, why: string) => void,
    private readonly holdMs = 5_000,
  ) {
    peer.on('connection', (conn) => this.incoming(linkFromConnection(conn)));
  }

  setExchange(ex: CohortExchange | null): void {
    this.exchange = ex;
    const now = Date.now();
    const held = this.held.filter((h) => h.until > now);
    this.held = [];
    for (const h of held) this.incoming(h.link);
  }

  private incoming(link: PeerLink): void {
    const ex = this.exchange;
    if (ex && ex.isMember(link.remotePeerId)) {
      ex.accept(link);
      return;
    }
    if (this.held.length < 32) {
      this.held.push({ link, until: Date.now() + this.holdMs });
      setTimeout(() => {
        const i = this.held.findIndex((h) => h.link === link);
        if (i < 0) return;
        this.held.splice(i, 1);
        link.close();
        this.onRejected(link.remotePeerId, 'not a member of any current cohort');
      }, this.holdMs);
      return;
    }
    link.close();
    this.onRejected(link.remotePeerId, 'too many unknown connections');
  }
}
