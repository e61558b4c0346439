// The page's session with the coordinator: the WebSocket (challenge → signed hello →
// welcome), the PeerJS peer it announces, reconnecting with backoff, and the lifecycle of
// lending as one state union.
import type { Peer } from 'peerjs';
import type { Hex } from 'viem';
import type { RunSpec } from '../../../shared/config.ts';
import {
  PROTOCOL_VERSION,
  contributionFromJson,
  helloMessage,
  type ChainInfo,
  type ClientMessage,
  type IceServer,
  type ServerMessage,
} from '../../../shared/wire/index.ts';
import { eip712Domain, type Eip712Domain } from '../../../shared/eip712.ts';
import { SessionKeyHolder } from '../../../shared/session-key.ts';
import type { ServerClock } from './clock.ts';
import { CoordinatorSocket, socketUrl } from './connection.ts';
import type { DeviceKey } from './device-key.ts';
import { describeError } from './errors.ts';
import type { CohortExchange } from './p2p/exchange.ts';
import type { PeerLink } from './p2p/links.ts';
import type { IncomingRouter } from './p2p/peer-net.ts';
import type { SnapshotStore } from './snapshot.ts';
import { reconnectDelayMs } from './backoff.ts';
import { watchLongTasks } from './long-tasks.ts';

/**
 * Lending, from Start to Stop: one union instead of flags.
 *   idle       not lending (a socket may be open only to deliver the outbox)
 *   starting   Start pressed: acquiring the trainer, connecting, waiting for the welcome
 *   preparing  welcomed while lending: the run's data, residual and model are being readied
 *   lending    prepared: takes rounds (a reconnect's welcome prepares again)
 *   disposed   the page is gone; nothing starts again
 */
export type Lifecycle =
  { kind: 'idle' } | { kind: 'starting' } | { kind: 'preparing'; welcome: Welcome; done: Promise<void> } | { kind: 'lending' } | { kind: 'disposed' };

/** What the coordinator said when it let this session in. */
export interface Welcome {
  run: RunSpec;
  round: number;
  modelHash: Hex;
  chain: ChainInfo;
}

/**
 * The connection, per socket: a welcomed session knows its run; `prepared` says whether this
 * connection's preparation for training ran (a reconnect prepares again).
 */
export type Connection = { kind: 'offline' } | { kind: 'connecting' } | { kind: 'welcomed'; welcome: Welcome; prepared: boolean };

type Handled = Exclude<ServerMessage['type'], 'challenge' | 'welcome' | 'ice' | 'dashboard'>;
export type MessageHandlers = { [K in Handled]: (m: Extract<ServerMessage, { type: K }>) => void };

export interface SessionOptions {
  origin: string;
  location?: Pick<Location, 'hostname' | 'port' | 'protocol'>;
  store: SnapshotStore;
  /** Observes every message's serverTime (round deadlines are in server time). */
  clock: Pick<ServerClock, 'observe'>;
  key: () => DeviceKey | null;
  partner: string | null;
  /** A welcome (first on this connection, or the same welcome again): join the run. */
  onWelcome: (w: Welcome, first: boolean) => Promise<void>;
  handlers: MessageHandlers;
  /** Whether to reconnect after a close (lending, or reports waiting in the outbox). */
  wantsConnection: () => boolean;
}

export class Session {
  connection: Connection = { kind: 'offline' };
  /** The Ed25519 session key every report is signed by, certified by the device key at each hello (shared/session-key.ts). */
  readonly sessionKeys = new SessionKeyHolder((typed) => this.o.key()!.account.signTypedData(typed));
  /** The EIP-712 domain the last challenge named: what the session certificate and reports are signed under. */
  private domain: Eip712Domain | null = null;
  private socket: CoordinatorSocket | null = null;
  private peer: Peer | null = null;
  private peerIdValue: string | null = null;
  private router: IncomingRouter | null = null;
  private stopLongTasks: (() => void) | null = null;
  /** PeerJS and its helpers, loaded on the first connection (not in the page's initial JS). */
  private net: typeof import('./p2p/peer-net.ts') | null = null;
  /** Failed connections since the last welcome: the backoff step (backoff.ts). */
  private reconnectAttempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;
  /** The latest ICE grant, for a peer created after it (a destroyed peer is replaced on reconnect). */
  private iceServers: IceServer[] = [];

  constructor(private readonly o: SessionOptions) {}

  get peerId(): string | null {
    return this.peerIdValue;
  }

  get open(): boolean {
    return !!this.socket?.open;
  }

  /** The welcome of this connection, once it is open and welcomed. */
  get welcome(): Welcome | null {
    return this.socket?.open && this.connection.kind === 'welcomed' ? this.connection.welcome : null;
  }

  send(m: ClientMessage): boolean {
    return this.socket?.send(m) ?? false;
  }

  /** Dials a cohort member over PeerJS (the exchange's transport). */
  dial(peerId: string): PeerLink {
    return this.net!.dialPeer(this.peer!, peerId);
  }

  /** Routes incoming cohort links to the round's exchange. */
  route(ex: CohortExchange | null): void {
    this.router?.setExchange(ex);
  }

  async connect(): Promise<void> {
    const { store } = this.o;
    if (this.socket || this.disposed) return;
    store.set({ connection: 'connecting' });
    try {
      const net = (this.net ??= await import('./p2p/peer-net.ts'));
      if (this.socket || this.disposed) return;
      if (!this.peer || this.peer.destroyed) {
        this.peerIdValue = net.randomPeerId();
        const peer = (this.peer = net.createPeer(this.peerIdValue, this.o.location ?? location));
        if (this.iceServers.length) net.useIceServers(peer, this.iceServers);
        peer.on('error', (e) => this.onPeerError(e.type, e.message));
        peer.on('disconnected', () => {
          if (!peer.destroyed && !this.disposed) {
            store.log('warn', 'lost the signalling server; reconnecting');
            peer.reconnect();
          }
        });
        this.router = new net.IncomingRouter(peer, (peerId, why) => store.log('warn', `refused a connection from ${peerId}: ${why}`));
        // Its heartbeat to the signalling server waits while this thread is held (long-tasks.ts).
        this.stopLongTasks ??= watchLongTasks((ms) => store.log('warn', `the main thread was held ${(ms / 1000).toFixed(1)} s at once`));
      }
    } catch (e) {
      store.log('error', `could not create the WebRTC peer: ${describeError(e)}`);
    }
    this.connection = { kind: 'connecting' };
    this.socket = new CoordinatorSocket(socketUrl(this.o.origin), {
      onMessage: (m) => this.onMessage(m),
      onBadMessage: (err) => store.log('error', `bad message from the coordinator: ${err}`),
      onClose: ({ code, reason, wasOpen }) => this.onClose(code, reason, wasOpen),
    });
  }

  /** The network is back: try now rather than at the next backoff step. */
  reconnectNow(): void {
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    this.reconnectAttempt = 0;
    if (!this.socket) void this.connect();
  }

  /** A welcomed session, connecting if needed (no training starts). */
  async ensure(): Promise<void> {
    if (this.welcome) return;
    if (!this.socket) await this.connect();
    await until(() => !!this.welcome, 20_000, 'could not reach the coordinator');
  }

  private onPeerError(type: string, message: string): void {
    // A cohort member that never registered: the exchange's per-peer timeout handles it.
    if (type === 'peer-unavailable') this.o.store.log('warn', `p2p: ${message}`);
    else this.o.store.log('error', `p2p (${type}): ${message}`);
  }

  private onClose(code: number, reason: string, wasOpen: boolean): void {
    const { store } = this.o;
    this.socket = null;
    this.connection = { kind: 'offline' };
    store.set({ connection: 'offline' });
    store.log(wasOpen ? 'warn' : 'error', `coordinator connection ${wasOpen ? 'closed' : 'failed'} (${code}${reason ? `: ${reason}` : ''})`);
    if (this.disposed || !this.o.wantsConnection()) return;
    // Jittered (backoff.ts): after a coordinator restart the pages do not all return on the same beat.
    const delay = reconnectDelayMs(this.reconnectAttempt++);
    store.log('info', `reconnecting in ${Math.round(delay / 1000)} s`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.o.wantsConnection()) void this.connect();
    }, delay);
  }

  private onMessage(m: ServerMessage): void {
    if ('serverTime' in m) this.o.clock.observe(m.serverTime);
    switch (m.type) {
      case 'challenge':
        void this.hello(m);
        return;
      case 'welcome': {
        this.useIce(m.ice?.servers ?? []);
        const prev = this.connection.kind === 'welcomed' ? this.connection : null;
        const first = prev?.welcome.run !== m.run || prev.welcome.round !== m.round;
        this.connection = {
          kind: 'welcomed',
          welcome: { run: m.run, round: m.round, modelHash: m.modelHash, chain: m.chain },
          prepared: prev?.prepared ?? false,
        };
        void this.o.onWelcome(this.connection.welcome, first);
        return;
      }
      case 'ice':
        this.useIce(m.ice.servers);
        return;
      case 'dashboard':
        return;
      default:
        (this.o.handlers[m.type] as (x: typeof m) => void)(m);
    }
  }

  /** STUN/TURN from the coordinator (welcome, renewed by 'ice') for the links dialled or answered from now on. */
  private useIce(servers: IceServer[]): void {
    this.iceServers = servers;
    if (this.peer && this.net) this.net.useIceServers(this.peer, servers);
  }

  private async hello({ challenge, session }: Extract<ServerMessage, { type: 'challenge' }>): Promise<void> {
    const { store } = this.o;
    const key = this.o.key()!;
    try {
      if (!this.peer || !this.peerIdValue) throw new Error('no WebRTC peer');
      await this.net!.whenPeerOpen(this.peer);
      const signature = await key.account.signMessage({ message: helloMessage(challenge, this.peerIdValue) });
      this.domain = eip712Domain(session.chainId, session.distributor);
      const grant = await this.sessionKeys.grant(this.domain, session.run, key.account.address, challenge, Math.floor(Date.now() / 1000));
      const gpu = store.get().gpu;
      const sent = this.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        address: key.account.address,
        peerId: this.peerIdValue,
        signature,
        adapter: gpu.adapter,
        gflops: gpu.gflops,
        partner: this.o.partner,
        // Before the trainer exists (a connection only to deliver the outbox) this names no device.
        ...(gpu.device ? { device: gpu.device === 'cpu' ? ('cpu' as const) : ('webgpu' as const) } : {}),
        session: grant,
      });
      if (!sent) throw new Error('the coordinator connection closed before hello');
      store.set({ connection: 'connected' });
      this.reconnectAttempt = 0;
    } catch (e) {
      store.log('error', `hello failed: ${describeError(e)}`);
      this.socket?.close();
      this.onClose(0, 'hello failed', true);
    }
  }

  /** A report from the outbox signed again by this connection's session key (an earlier page or certificate signed it). */
  async resign<R extends Extract<ClientMessage, { type: 'report' }>>(report: R): Promise<R> {
    if (!this.domain) return report;
    return { ...report, signature: await this.sessionKeys.signReport(this.domain, contributionFromJson(report.contribution)) };
  }

  /** The device key changed: close this connection (its hello named the old key); the next connect says hello as the new one. */
  signOut(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.socket?.close();
    this.socket = null;
    this.connection = { kind: 'offline' };
    this.o.store.set({ connection: 'offline' });
  }

  dispose(): void {
    this.disposed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.close();
    this.peer?.destroy();
    this.stopLongTasks?.();
  }
}

/** Resolves when `cond` holds, polled every 100 ms; rejects naming `what` after `timeoutMs`. */
export function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cond()) return resolve();
    const t0 = Date.now();
    const timer = setInterval(() => {
      if (cond()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - t0 > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`${what} within ${Math.round(timeoutMs / 1000)} s`));
      }
    }, 100);
  });
}
