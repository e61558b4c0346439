// The volunteer client: consent, device key, GPU trainer, coordinator socket, PeerJS peer,
// and the round pipeline (sync → train → compress → exchange → aggregate → report),
// plus model commits and claims. UI-free: it publishes an immutable VolunteerSnapshot to
// subscribers (the Svelte store, the test hook) and takes commands (consent, start, stop, claim).
import { createPublicClient, http, verifyMessage, type Address, type Hex } from 'viem';
import type { Peer } from 'peerjs';
import { decodeFrame, kPerChunk } from '../../../shared/codec.ts';
import { encodeEvidence, residualCommitment } from '../../../shared/evidence.ts';
import { rewardDistributorAbi } from '../../../shared/chain/abi.ts';
import { verifyRewardProof } from '../../../shared/chain/proof.ts';
import { DEFAULT_RUN, modelOf, type RunSpec } from '../../../shared/config.ts';
import type { GptDims } from '../../../shared/model.ts';
import { contributionTypedData, eip712Domain } from '../../../shared/eip712.ts';
import { assignmentIndices } from '../../../shared/assignment.ts';
import { maxUpdateFrameBytes } from '../../../shared/p2p.ts';
import {
  PROTOCOL_VERSION,
  contributionToJson,
  helloMessage,
  type AccountSummary,
  type AdapterInfo,
  type ChainInfo,
  type ContributionState,
  type ServerMessage,
} from '../../../shared/protocol.ts';
import { CoordinatorApi, parseDataset } from './api.ts';
import { claimTokens } from './claim.ts';
import { ServerClock, clockScheduler } from './clock.ts';
import { CoordinatorSocket, socketUrl } from './connection.ts';
import { loadDeviceKey, loadOrCreateDeviceKey, type DeviceKey } from './device-key.ts';
import { describeError } from './errors.ts';
import { CohortExchange, type ExchangeResult, type PeerTimeouts } from './exchange.ts';
import { ModelSync } from './local-model.ts';
import type { IncomingRouter } from './peer-net.ts';
import { buildContribution, cohortAggregate, encodeOwnUpdate, peerUpdateLimits, pseudoGradient, randomNonce } from '../../../shared/round.ts';
import type { ClientStorage, OutboxRecord } from './storage.ts';
import type { ComputeDevice, Trainer } from './trainer.ts';

/** Bumped when what the volunteer agrees to changes. */
export const CONSENT_VERSION = 1;
/** How long an opt-in lasts: 30 days in the app, 24 hours in a partner's widget. */
export const CONSENT_TTL_MS = { app: 30 * 24 * 3600_000, widget: 24 * 3600_000 } as const;
/** Resource governance presets: the share of wall time the GPU queue may be busy. */
export const DUTY_PRESETS = { light: 0.25, medium: 0.5, full: 1 } as const;
export type DutyPreset = keyof typeof DUTY_PRESETS;

/** The Web Lock that keeps one trainer per browser profile. */
export const TRAINER_LOCK = 'idlegrad-trainer';

export type ClientState = 'loading' | 'needs-consent' | 'ready' | 'starting' | 'running' | 'stopping' | 'stopped' | 'error';
export type RoundPhase = 'idle' | 'syncing' | 'training' | 'exchanging' | 'uploading' | 'reporting' | 'waiting';
export type LogLevel = 'info' | 'warn' | 'error';

export interface LogEntry {
  at: number;
  level: LogLevel;
  text: string;
}

export interface RewardCheck {
  ok: boolean;
  epoch: number;
  cumulativeWei: string;
  /** The distributor's merkleRoot() when checked. */
  root: Hex;
  checkedAt: number;
}

export interface VolunteerSnapshot {
  state: ClientState;
  phase: RoundPhase;
  storage: { persistent: boolean; reason: string | null };
  consentAt: number | null;
  /** When the opt-in lapses and the page asks again (epoch ms). */
  consentExpiresAt: number | null;
  address: Address | null;
  /** True while another tab of this browser holds the trainer (Web Locks). */
  otherTabTraining: boolean;
  /** The last Stop, as the worker measured it: GPU work ended `idleAt − requestedAt` ms after the request. */
  lastStop: { clickedAt: number; requestedAt: number; idleAt: number; stepsDone: number } | null;
  /** Signed reports written to the outbox and not yet answered by the coordinator. */
  outbox: number;
  /** Throttle preset, idle-only mode, and whether the volunteer is active right now (pauses in idle-only mode). */
  governance: { preset: DutyPreset; idleOnly: boolean; idleAfterS: number; userActive: boolean };
  /** The last round's measured GPU duty: busy ms of the queue over wall ms in the worker. */
  lastDuty: { round: number; busyMs: number; wallMs: number; preset: DutyPreset } | null;
  partner: string | null;
  gpu: { status: 'idle' | 'probing' | 'ready' | 'unavailable' | 'lost'; device: ComputeDevice | null; adapter: AdapterInfo | null; gflops: number | null; message: string | null };
  connection: 'offline' | 'connecting' | 'connected';
  run: { id: number; name: string; paramCount: number; steps: number; batchSize: number } | null;
  /** The coordinator's current round. */
  round: number | null;
  /** The local model: the round it is at and its hash. */
  model: { round: number; hash: Hex } | null;
  cohort: { id: number; round: number; members: number; verified: number; frames: number } | null;
  samplesPerSec: number | null;
  lastLoss: { round: number; before: number; after: number } | null;
  p2p: { bytesIn: number; bytesOut: number };
  /** This page's own update frames (one per round it trained) and their total size. */
  ownFrames: { count: number; bytes: number };
  reportsSent: number;
  lastAck: { nonce: string; state: ContributionState; reason: string | null; round: number | null } | null;
  account: AccountSummary | null;
  claim: { busy: boolean; txHashes: Hex[] };
  /** "Verify my reward": the ledger's leaf for this account checked against the root on chain. */
  rewardCheck: RewardCheck | null;
  log: LogEntry[];
  errors: string[];
}

export interface VolunteerOptions {
  /** The coordinator's origin (this page's, e.g. location.origin). */
  origin: string;
  storage: ClientStorage;
  createTrainer: () => Trainer;
  /** Page location, for the PeerServer host and port. */
  location?: Pick<Location, 'hostname' | 'port' | 'protocol'>;
  partner?: string | null;
  /** Where the page runs: sets the consent lifetime (default 'app'). */
  surface?: 'app' | 'widget';
  /** Web Locks (navigator.locks by default); null where the browser has none. */
  locks?: LockManager | null;
  /** Whether this page has navigator.gpu (default: looked up); without it the worker trains on the CPU. */
  hasWebGpu?: boolean;
  now?: () => number;
  peerTimeouts?: Partial<PeerTimeouts>;
  maxLogEntries?: number;
}

const ZERO_COUNTS = (): Record<ContributionState, number> => ({ pending: 0, accepted: 0, verified: 0, rejected: 0, batched: 0, claimable: 0, claimed: 0 });

type RoundMessage = Extract<ServerMessage, { type: 'round' }>;

/** Rounds of spot-check evidence a page keeps (a validator asks within seconds of a commit). */
const EVIDENCE_ROUNDS_KEPT = 4;

export class VolunteerClient {
  private readonly api: CoordinatorApi;
  private readonly clock = new ServerClock();
  private readonly listeners = new Set<(s: VolunteerSnapshot) => void>();
  private readonly models: ModelSync;
  private snap: VolunteerSnapshot;
  private emitQueued = false;

  private key: DeviceKey | null = null;
  private trainer: Trainer | null = null;
  private trainerShape: string | null = null;
  private dataLoadedFor: string | null = null;
  private socket: CoordinatorSocket | null = null;
  private peer: Peer | null = null;
  private peerId: string | null = null;
  private router: IncomingRouter | null = null;
  private runSpec: RunSpec | null = null;
  private chain: ChainInfo | null = null;
  private residual: Float32Array | null = null;
  /**
   * What a validator may ask for, by own frame hash: the frame and the residuals it was
   * built between (committed in the report as residualHash). Memory only, the last few rounds:
   * after a reload a sampled contribution cannot be evidenced and is rejected as withheld.
   */
  private readonly evidence = new Map<string, { run: number; round: number; frame: Uint8Array; before: Float32Array; after: Float32Array }>();
  private wantRunning = false;
  private welcomed = false;
  private reconnectDelay = 1_000;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private preparing: Promise<void> | null = null;
  private training = false;
  private roundToken: { round: number; cancelled: boolean } | null = null;
  private exchange: CohortExchange | null = null;
  private exchangeDispose: ReturnType<typeof setTimeout> | null = null;
  private readonly pendingNonces = new Map<string, number>();
  private disposed = false;
  private prepared = false;
  private lastWelcome: { run: RunSpec; round: number; modelHash: Hex } | null = null;
  private releaseLock: (() => void) | null = null;
  private roundAbort: Promise<unknown> | null = null;
  private readonly now: () => number;
  /** PeerJS and its helpers, loaded on the first connection (not in the page's initial JS). */
  private net: typeof import('./peer-net.ts') | null = null;

  private constructor(private readonly o: VolunteerOptions) {
    this.api = new CoordinatorApi(o.origin);
    this.now = o.now ?? Date.now;
    this.models = new ModelSync({ api: this.api, storage: o.storage, log: (level, text) => this.log(level, text) });
    this.snap = {
      state: 'loading',
      phase: 'idle',
      storage: { persistent: o.storage.persistent, reason: o.storage.reason },
      consentAt: null,
      consentExpiresAt: null,
      address: null,
      otherTabTraining: false,
      lastStop: null,
      outbox: 0,
      governance: { preset: 'full', idleOnly: false, idleAfterS: 30, userActive: false },
      lastDuty: null,
      partner: o.partner ?? null,
      gpu: { status: 'idle', device: null, adapter: null, gflops: null, message: null },
      connection: 'offline',
      run: null,
      round: null,
      model: null,
      cohort: null,
      samplesPerSec: null,
      lastLoss: null,
      p2p: { bytesIn: 0, bytesOut: 0 },
      ownFrames: { count: 0, bytes: 0 },
      reportsSent: 0,
      lastAck: null,
      account: null,
      claim: { busy: false, txHashes: [] },
      rewardCheck: null,
      log: [],
      errors: [],
    };
  }

  /** Loads consent and the device key if they exist; computes and connects nothing. */
  static async create(o: VolunteerOptions): Promise<VolunteerClient> {
    const c = new VolunteerClient(o);
    if (!o.storage.persistent && o.storage.reason) c.log('warn', o.storage.reason);
    try {
      const consent = await o.storage.getConsent();
      const expiresAt = consent ? consent.at + c.ttl : 0;
      if (consent && consent.version === CONSENT_VERSION && expiresAt > c.now()) {
        c.key = await loadDeviceKey(o.storage);
        if (c.key) {
          c.set({ consentAt: consent.at, consentExpiresAt: expiresAt, address: c.key.account.address });
          void c.refreshAccount();
        }
      } else if (consent) {
        c.log('info', consent.version !== CONSENT_VERSION ? 'what you agree to has changed: please review and opt in again' : `your opt-in expired on ${new Date(expiresAt).toISOString()}: please opt in again`);
      }
      c.set({ state: c.key ? 'ready' : 'needs-consent' });
      // Reports signed before a reload or a lost connection: deliver them (no compute involved).
      if (c.key) {
        const pending = await o.storage.listOutbox().catch(() => []);
        c.set({ outbox: pending.length });
        if (pending.length) {
          c.log('info', `${pending.length} signed report(s) from an earlier session are waiting to be delivered`);
          void c.connect();
        }
      }
    } catch (e) {
      c.log('error', `could not read stored consent or key: ${describeError(e)}`);
      c.set({ state: 'needs-consent' });
    }
    return c;
  }

  // ---- public surface -----------------------------------------------------------------

  snapshot(): VolunteerSnapshot {
    return this.snap;
  }

  subscribe(fn: (s: VolunteerSnapshot) => void): () => void {
    this.listeners.add(fn);
    fn(this.snap);
    return () => this.listeners.delete(fn);
  }

  private get ttl(): number {
    return CONSENT_TTL_MS[this.o.surface ?? 'app'];
  }

  private consentValid(): boolean {
    return this.snap.consentExpiresAt !== null && this.snap.consentExpiresAt > this.now();
  }

  /** The explicit opt-in: records consent with its time and creates the device key. */
  async consent(): Promise<void> {
    if (this.key && this.consentValid()) return;
    const at = this.now();
    try {
      await this.o.storage.putConsent({ granted: true, at, version: CONSENT_VERSION });
      const key = await loadOrCreateDeviceKey(this.o.storage);
      this.key = key;
      this.set({ consentAt: at, consentExpiresAt: at + this.ttl, address: key.account.address, state: 'ready' });
      this.log('info', key.created ? `created device key ${key.account.address}` : `using device key ${key.account.address}`);
      void this.refreshAccount();
    } catch (e) {
      this.log('error', `could not record consent: ${describeError(e)}`);
    }
  }

  /** Revoke the opt-in in one click: stops, forgets the consent; the key and credit stay. */
  async revokeConsent(): Promise<void> {
    await this.stop();
    try {
      await this.o.storage.deleteConsent();
    } catch (e) {
      this.log('error', `could not forget the consent: ${describeError(e)}`);
      return;
    }
    this.set({ consentAt: null, consentExpiresAt: null, state: 'needs-consent' });
    this.log('info', 'consent revoked: nothing runs until you opt in again (your device key and credit are kept)');
  }

  /** Lend the GPU: acquire it, connect, and take rounds until stop(). */
  async start(): Promise<void> {
    if (!this.key || !this.consentValid()) {
      if (this.key) this.set({ state: 'needs-consent', consentAt: null, consentExpiresAt: null });
      this.log('error', 'consent first: nothing runs before you opt in');
      return;
    }
    if (this.wantRunning) return;
    if (!(await this.takeTrainerLock())) return;
    this.wantRunning = true;
    this.set({ state: 'starting' });
    try {
      await this.ensureTrainer();
    } catch (e) {
      this.wantRunning = false;
      this.dropTrainerLock();
      this.set({ state: 'error' });
      this.log('error', describeError(e));
      return;
    }
    if (!this.wantRunning) return;
    if (this.welcomed && this.socket?.open) {
      if (!this.prepared && this.lastWelcome) {
        const w = this.lastWelcome;
        await this.onWelcome(w.run, w.round, w.modelHash, this.chain!);
        return;
      }
      this.socket.send({ type: 'start' });
      this.set({ state: 'running', phase: 'waiting' });
      this.log('info', 'resumed');
      return;
    }
    await this.connect();
  }

  /**
   * Stop lending, in one click: no new GPU work starts and the round in flight is aborted
   * between two GPU segments (≤ one segment, ~150 ms of GPU work); its result is dropped.
   */
  async stop(): Promise<void> {
    if (!this.wantRunning && this.snap.state !== 'starting') return;
    const clickedAt = this.now();
    this.wantRunning = false;
    this.socket?.send({ type: 'stop' });
    if (this.training && this.trainer) {
      this.set({ state: 'stopping' });
      const abort = this.trainer.abort();
      this.roundAbort = abort;
      try {
        const r = await abort;
        if (r) {
          this.set({ lastStop: { clickedAt, ...r } });
          this.log('info', `stopped: ${this.snap.gpu.device === 'cpu' ? 'CPU' : 'GPU'} work ended ${Math.round(r.idleAt - r.requestedAt)} ms after the request (${r.stepsDone} steps done; the round's result is dropped)`);
        }
      } catch (e) {
        this.log('warn', `stopping the worker: ${describeError(e)}`);
      }
    } else {
      this.log('info', 'stopped');
    }
    if (this.wantRunning) return; // Start was pressed again meanwhile
    this.dropTrainerLock();
    this.set({ state: 'stopped', phase: this.snap.phase === 'training' ? 'idle' : this.snap.phase });
  }

  /** One trainer per browser: hold a Web Lock while lending; another tab that holds it wins. */
  private async takeTrainerLock(): Promise<boolean> {
    if (this.releaseLock) return true;
    const locks = this.o.locks === undefined ? (globalThis.navigator?.locks ?? null) : this.o.locks;
    if (!locks) {
      this.log('warn', 'this browser has no Web Locks: other tabs cannot tell that this one is training');
      return true;
    }
    const got = await new Promise<boolean>((resolve) => {
      void locks
        .request(TRAINER_LOCK, { ifAvailable: true }, (lock) => {
          if (!lock) {
            resolve(false);
            return;
          }
          resolve(true);
          return new Promise<void>((release) => (this.releaseLock = release));
        })
        .catch((e: unknown) => {
          this.log('warn', `Web Locks failed (${describeError(e)}); going on without`);
          resolve(true);
        });
    });
    this.set({ otherTabTraining: !got });
    if (!got) this.log('warn', 'another tab of this browser is already training: only one trainer runs per device. Stop it there, or close it, then press Start here.');
    return got;
  }

  private dropTrainerLock(): void {
    this.releaseLock?.();
    this.releaseLock = null;
  }

  /** Light / Medium / Full: applies from the next GPU segment, also mid-round. */
  setPreset(preset: DutyPreset): void {
    this.set({ governance: { ...this.snap.governance, preset } });
    this.log('info', `GPU budget: ${preset} (${Math.round(DUTY_PRESETS[preset] * 100)} % of the time)`);
    this.pushThrottle();
  }

  /** Idle-only mode: training pauses while the volunteer uses the machine (see setUserActive). */
  setIdleOnly(on: boolean): void {
    this.set({ governance: { ...this.snap.governance, idleOnly: on } });
    this.log('info', on ? 'idle-only: training pauses while you use this computer' : 'idle-only off');
    this.pushThrottle();
  }

  /** Seconds without input before idle-only mode resumes (1 s to 1 h). */
  setIdleAfter(seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    this.set({ governance: { ...this.snap.governance, idleAfterS: Math.min(3600, Math.max(1, Math.round(seconds))) } });
  }

  /** From the page's activity watcher: true on input, false after N idle seconds. */
  setUserActive(active: boolean): void {
    if (this.snap.governance.userActive === active) return;
    this.set({ governance: { ...this.snap.governance, userActive: active } });
    if (this.snap.governance.idleOnly) this.log('info', active ? 'you are active: training paused' : 'idle again: training resumes');
    this.pushThrottle();
  }

  private pushThrottle(): void {
    const g = this.snap.governance;
    this.trainer?.setThrottle({ duty: DUTY_PRESETS[g.preset], paused: g.idleOnly && g.userActive }).catch((e: unknown) => this.log('warn', `could not apply the GPU budget: ${describeError(e)}`));
  }

  /** The network is back: deliver the outbox now rather than at the next backoff step. */
  deliverOutbox(): void {
    if (this.disposed || !this.key || this.snap.outbox === 0) return;
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    this.reconnectDelay = 1_000;
    if (this.socket?.open && this.welcomed) void this.flushOutbox();
    else if (!this.socket) void this.connect();
  }

  /** Claim what the ledger says is claimable, from the device key. */
  async claim(): Promise<Hex | null> {
    const claimable = this.snap.account?.claimable;
    if (!this.key || !claimable || this.snap.claim.busy) return null;
    this.set({ claim: { ...this.snap.claim, busy: true } });
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      const hash = await claimTokens({ api: this.api, account: this.key.account, chain, claimable, origin: this.o.origin, log: (l, t) => this.log(l, t) });
      this.set({ claim: { busy: false, txHashes: [...this.snap.claim.txHashes, hash] } });
      this.log('info', `claimed tokens in ${hash}`);
      await this.refreshAccount();
      return hash;
    } catch (e) {
      this.set({ claim: { ...this.snap.claim, busy: false } });
      this.log('error', `claim failed: ${describeError(e)}`);
      return null;
    }
  }

  /**
   * Verify my reward: fetch this account's leaf and proof from the coordinator, read the
   * root the RewardDistributor holds now, and check the proof here, in the page.
   */
  async verifyReward(): Promise<RewardCheck | null> {
    if (!this.key) return null;
    const account = this.key.account.address;
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      const p = await this.api.rewardProof(account);
      const client = createPublicClient({ transport: http(new URL(chain.rpcUrl, this.o.origin).href) });
      const onChainRoot = await client.readContract({ address: chain.distributor, abi: rewardDistributorAbi, functionName: 'merkleRoot' });
      const inRoot = verifyRewardProof({ account, cumulative: BigInt(p.cumulativeWei), proof: p.proof, root: onChainRoot });
      const check: RewardCheck = { ok: inRoot && onChainRoot.toLowerCase() === p.root.toLowerCase(), epoch: p.epoch, cumulativeWei: p.cumulativeWei, root: onChainRoot, checkedAt: this.now() };
      this.set({ rewardCheck: check });
      this.log(check.ok ? 'info' : 'error', check.ok
        ? `verified: your cumulative credit of ${p.cumulativeWei} wei (epoch ${p.epoch}) is in the root on chain ${onChainRoot.slice(0, 10)}…`
        : `verification failed: the proof for epoch ${p.epoch} does not lead to the root on chain ${onChainRoot.slice(0, 10)}…`);
      return check;
    } catch (e) {
      this.log('error', `verify my reward: ${describeError(e)}`);
      return null;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.wantRunning = false;
    this.dropTrainerLock();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.exchange?.dispose();
    this.socket?.close();
    this.peer?.destroy();
    this.trainer?.terminate();
  }

  // ---- snapshot plumbing --------------------------------------------------------------

  private set(patch: Partial<VolunteerSnapshot>): void {
    this.snap = { ...this.snap, ...patch };
    if (this.emitQueued) return;
    this.emitQueued = true;
    queueMicrotask(() => {
      this.emitQueued = false;
      for (const fn of this.listeners) fn(this.snap);
    });
  }

  log(level: LogLevel, text: string): void {
    const entry = { at: Date.now(), level, text };
    const max = this.o.maxLogEntries ?? 200;
    this.set({
      log: [...this.snap.log, entry].slice(-max),
      errors: level === 'error' ? [...this.snap.errors, text].slice(-max) : this.snap.errors,
    });
    if (level === 'error') console.error(`[idlegrad] ${text}`);
  }

  private async refreshAccount(): Promise<void> {
    if (!this.key) return;
    try {
      this.set({ account: await this.api.account(this.key.account.address) });
    } catch (e) {
      // A fresh key has no account yet: that is not an error worth alarming anyone about.
      this.log((e as { code?: string }).code === 'NOT_FOUND' ? 'info' : 'warn', `account: ${describeError(e)}`);
    }
  }

  // ---- GPU ----------------------------------------------------------------------------

  private async ensureTrainer(): Promise<Trainer> {
    if (this.trainer) return this.trainer;
    this.set({ gpu: { ...this.snap.gpu, status: 'probing', message: null } });
    const trainer = this.o.createTrainer();
    let adapter: AdapterInfo | null = null;
    try {
      const hasWebGpu = this.o.hasWebGpu ?? (typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu);
      if (!hasWebGpu) {
        const e = new Error('navigator.gpu is missing');
        e.name = 'WebGpuUnavailableError';
        throw e;
      }
      adapter = await trainer.probe();
    } catch (e) {
      const unavailable = e instanceof Error && e.name === 'WebGpuUnavailableError';
      if (!unavailable) {
        trainer.terminate();
        const message = `GPU setup failed: ${describeError(e)}`;
        this.set({ gpu: { status: 'unavailable', device: null, adapter: null, gflops: null, message } });
        throw new Error(message);
      }
      // No WebGPU: the CPU path, said plainly and credited as CPU work (hello's adapter is null).
      await trainer.useCpu();
      const message = `WebGPU is not available in this browser (${describeError(e)}). Training on the CPU instead: slower, and reported as CPU work.`;
      this.set({ gpu: { status: 'ready', device: 'cpu', adapter: null, gflops: null, message } });
      this.log('warn', message);
    }
    trainer.onLost((loss) => this.onDeviceLost(loss.reason, loss.message));
    this.trainer = trainer;
    this.pushThrottle();
    if (adapter) {
      this.set({ gpu: { status: 'ready', device: 'gpu', adapter, gflops: null, message: null } });
      this.log('info', `GPU: ${[adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(' · ') || 'unnamed adapter'}`);
    }
    // A short measured benchmark for `hello`, on the default model shape until the run is known.
    try {
      await this.initTrainer(DEFAULT_RUN.sizes, DEFAULT_RUN.inner.batchSize);
      const b = await trainer.benchmark();
      this.set({ gpu: { ...this.snap.gpu, gflops: b.gflops } });
      this.log('info', `benchmark: ${b.gflops.toFixed(3)} GFLOP/s, ${Math.round(b.samplesPerSec)} samples/s`);
    } catch (e) {
      this.log('warn', `benchmark skipped: ${describeError(e)}`);
    }
    return trainer;
  }

  private async initTrainer(sizes: number[], batchSize: number, gpt?: GptDims): Promise<void> {
    const shape = `${gpt ? JSON.stringify(gpt) : sizes.join('x')}/${batchSize}`;
    if (this.trainerShape === shape) return;
    await this.trainer!.init(sizes, batchSize, gpt);
    this.trainerShape = shape;
  }

  private onDeviceLost(reason: string, message: string): void {
    if (this.disposed) return;
    this.trainer = null;
    this.trainerShape = null;
    this.dataLoadedFor = null;
    this.set({ gpu: { ...this.snap.gpu, status: 'lost', device: null, message: `GPU device lost (${reason}): ${message}. Press Start to try again.` } });
    this.log('error', `GPU device lost (${reason}): ${message}`);
    if (this.wantRunning) {
      this.wantRunning = false;
      this.socket?.send({ type: 'stop' });
    }
    this.set({ state: 'error', phase: 'idle' });
  }

  // ---- connection ---------------------------------------------------------------------

  private async connect(): Promise<void> {
    if (this.socket || this.disposed) return;
    this.set({ connection: 'connecting' });
    try {
      const net = (this.net ??= await import('./peer-net.ts'));
      if (this.socket || this.disposed) return;
      const { IncomingRouter, createPeer, randomPeerId } = net;
      if (!this.peer || this.peer.destroyed) {
        this.peerId = randomPeerId();
        this.peer = createPeer(this.peerId, this.o.location ?? location);
        this.peer.on('error', (e) => this.onPeerError(e.type, e.message));
        this.peer.on('disconnected', () => {
          if (this.peer && !this.peer.destroyed && !this.disposed) {
            this.log('warn', 'lost the signalling server; reconnecting');
            this.peer.reconnect();
          }
        });
        this.router = new IncomingRouter(this.peer, (peerId, why) => this.log('warn', `refused a connection from ${peerId}: ${why}`));
      }
    } catch (e) {
      this.log('error', `could not create the WebRTC peer: ${describeError(e)}`);
    }
    this.welcomed = false;
    this.prepared = false;
    this.lastWelcome = null;
    this.socket = new CoordinatorSocket(socketUrl(this.o.origin), {
      onMessage: (m) => this.onMessage(m),
      onBadMessage: (err) => this.log('error', `bad message from the coordinator: ${err}`),
      onClose: ({ code, reason, wasOpen }) => this.onSocketClose(code, reason, wasOpen),
    });
  }

  private onPeerError(type: string, message: string): void {
    if (type === 'peer-unavailable') {
      // A cohort member that never registered: the exchange's per-peer timeout handles it.
      this.log('warn', `p2p: ${message}`);
      return;
    }
    this.log('error', `p2p (${type}): ${message}`);
  }

  private onSocketClose(code: number, reason: string, wasOpen: boolean): void {
    this.socket = null;
    this.welcomed = false;
    this.prepared = false;
    this.lastWelcome = null;
    this.set({ connection: 'offline' });
    this.log(wasOpen ? 'warn' : 'error', `coordinator connection ${wasOpen ? 'closed' : 'failed'} (${code}${reason ? `: ${reason}` : ''})`);
    if (this.disposed || (!this.wantRunning && this.snap.outbox === 0)) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 30_000);
    this.log('info', `reconnecting in ${Math.round(delay / 1000)} s`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.wantRunning || this.snap.outbox > 0) void this.connect();
    }, delay);
  }

  private onMessage(m: ServerMessage): void {
    if ('serverTime' in m) this.clock.observe(m.serverTime);
    switch (m.type) {
      case 'challenge':
        void this.sendHello(m.challenge);
        return;
      case 'welcome':
        void this.onWelcome(m.run, m.round, m.modelHash, m.chain);
        return;
      case 'round':
        this.onRound(m);
        return;
      case 'committed':
        void this.onCommitted(m.run, m.round, m.modelHash, m.accepted);
        return;
      case 'ack': {
        const round = this.pendingNonces.get(m.nonce) ?? null;
        this.pendingNonces.delete(m.nonce);
        this.set({ lastAck: { nonce: m.nonce, state: m.state, reason: m.reason, round } });
        this.log(m.state === 'rejected' ? 'error' : 'info', `report${round !== null ? ` for round ${round}` : ''} ${m.state}${m.reason ? `: ${m.reason}` : ''}`);
        void this.outboxDone(m.nonce);
        return;
      }
      case 'error':
        if (m.ref && this.pendingNonces.has(m.ref)) {
          void this.onReportRefused(m.ref, m.code, m.message);
          return;
        }
        this.log('error', `coordinator: [${m.code}] ${m.message}${m.ref ? ` (${m.ref})` : ''}`);
        return;
      case 'account':
        this.set({ account: m.summary });
        return;
      case 'dashboard':
        return;
      case 'verify':
        void this.answerVerify(m);
        return;
      default: {
        const never: never = m;
        this.log('warn', `unhandled message ${(never as { type: string }).type}`);
      }
    }
  }

  private async sendHello(challenge: string): Promise<void> {
    const key = this.key!;
    try {
      if (!this.peer || !this.peerId) throw new Error('no WebRTC peer');
      await this.net!.whenPeerOpen(this.peer);
      const signature = await key.account.signMessage({ message: helloMessage(challenge, this.peerId) });
      const sent = this.socket?.send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        address: key.account.address,
        peerId: this.peerId,
        signature,
        adapter: this.snap.gpu.adapter,
        gflops: this.snap.gpu.gflops,
      });
      if (!sent) throw new Error('the coordinator connection closed before hello');
      this.set({ connection: 'connected' });
      this.reconnectDelay = 1_000;
    } catch (e) {
      this.log('error', `hello failed: ${describeError(e)}`);
      this.socket?.close();
      this.onSocketClose(0, 'hello failed', true);
    }
  }

  private async onWelcome(run: RunSpec, round: number, modelHash: Hex, chain: ChainInfo): Promise<void> {
    const runChanged = this.runSpec?.id !== run.id || this.runSpec?.paramTableHash !== run.paramTableHash;
    const first = this.lastWelcome?.run !== run || this.lastWelcome.round !== round;
    this.runSpec = run;
    this.chain = chain;
    this.lastWelcome = { run, round, modelHash };
    this.set({ run: { id: run.id, name: run.name, paramCount: run.paramCount, steps: run.inner.steps, batchSize: run.inner.batchSize }, round });
    if (first) {
      this.log('info', `joined run ${run.id} "${run.name}" at round ${round}`);
      await this.flushOutbox();
    }
    this.welcomed = true;
    // Connected only to deliver the outbox: no GPU work until Start.
    if (!this.wantRunning) return;
    const prep = (this.preparing = this.prepare(run, round, modelHash, runChanged));
    try {
      await prep;
    } catch (e) {
      this.log('error', `preparing for the run failed: ${describeError(e)}`);
      this.wantRunning = false;
      this.set({ state: 'error', phase: 'idle' });
      return;
    } finally {
      if (this.preparing === prep) this.preparing = null;
    }
    this.prepared = true;
    if (this.wantRunning) {
      this.socket?.send({ type: 'start' });
      this.set({ state: 'running', phase: 'waiting' });
    }
  }

  private async prepare(run: RunSpec, round: number, modelHash: Hex, runChanged: boolean): Promise<void> {
    this.set({ phase: 'syncing' });
    if (!this.trainer) await this.ensureTrainer();
    const model = modelOf(run);
    await this.initTrainer(run.sizes, run.inner.batchSize, model.preset === 'gpt' ? model.dims : undefined);
    // A text run's key carries its text's id: two texts of one size are different data.
    const dataKey = `${run.dataset.name}${run.dataset.text ? `-${run.dataset.text.slice(0, 16)}` : ''}-train-${run.dataset.trainCount}x${run.dataset.features}`;
    if (this.dataLoadedFor !== dataKey) {
      const shape = { count: run.dataset.trainCount, features: run.dataset.features, classes: run.dataset.classes };
      const cached = await this.o.storage.getDataset(dataKey).catch(() => undefined);
      let data;
      if (cached && cached.count === shape.count && cached.features === shape.features) {
        data = { ...cached, classes: shape.classes };
      } else {
        this.log('info', 'downloading the training set');
        data = parseDataset(await this.api.trainData(), shape);
        await this.o.storage.putDataset({ name: dataKey, count: data.count, features: data.features, labels: data.labels, images: data.images }).catch((e) => this.log('warn', `could not cache the training set: ${describeError(e)}`));
      }
      await this.trainer!.setData(data);
      this.dataLoadedFor = dataKey;
      this.log('info', `training set ready: ${data.count} samples`);
    }
    if (runChanged || !this.residual) {
      const stored = await this.o.storage.getResidual().catch(() => undefined);
      this.residual = stored && stored.run === run.id && stored.paramTableHash === run.paramTableHash && stored.residual.length === run.paramCount ? stored.residual : new Float32Array(run.paramCount);
    }
    await this.models.setRun(run);
    try {
      await this.models.ensure(round, modelHash);
    } catch (e) {
      // The next round message retries; a coordinator mid-commit can serve an older snapshot.
      this.log('warn', `model not synced yet: ${describeError(e)}`);
    }
    this.publishModel();
    this.set({ phase: 'waiting' });
  }

  private publishModel(): void {
    const m = this.models.current;
    this.set({ model: m ? { round: m.round, hash: m.modelHash } : null });
  }

  private async onCommitted(run: number, round: number, modelHash: Hex, accepted: number): Promise<void> {
    if (!this.runSpec || run !== this.runSpec.id) return;
    this.log('info', `round ${round} committed: ${accepted} contribution(s) accepted, model ${modelHash.slice(0, 10)}…`);
    await this.preparing?.catch(() => undefined);
    try {
      await this.models.committed(round, modelHash);
    } catch (e) {
      this.log('error', `applying the round ${round} update failed: ${describeError(e)}`);
    }
    this.publishModel();
  }

  // ---- one round ----------------------------------------------------------------------

  private onRound(m: RoundMessage): void {
    const run = this.runSpec;
    this.set({ round: m.round });
    if (!run || m.run !== run.id) {
      this.log('error', `round ${m.round} is for run ${m.run}, but this page joined run ${run?.id ?? 'none'}`);
      return;
    }
    if (!this.wantRunning) {
      this.log('info', `round ${m.round} assigned while stopped: skipped`);
      return;
    }
    if (!this.consentValid()) {
      this.log('warn', 'your opt-in expired: stopping; opt in again to go on');
      void this.stop().then(() => this.set({ state: 'needs-consent', consentAt: null, consentExpiresAt: null }));
      return;
    }
    if (this.training) {
      this.log('warn', `still training the previous round: round ${m.round} skipped`);
      return;
    }
    if (this.roundToken) this.roundToken.cancelled = true;
    const token = { round: m.round, cancelled: false };
    this.roundToken = token;
    void this.runRound(m, run, token).catch((e) => this.log('error', `round ${m.round}: ${describeError(e)}`));
  }

  private async runRound(m: RoundMessage, run: RunSpec, token: { round: number; cancelled: boolean }): Promise<void> {
    const key = this.key!;
    const trainer = this.trainer;
    if (!trainer) throw new Error('no GPU trainer');
    const me = key.account.address.toLowerCase() as Address;
    const members = m.cohort.members.map((x) => ({ address: x.address.toLowerCase() as Address, peerId: x.peerId }));
    const self = members.find((x) => x.address === me && x.peerId === this.peerId);
    if (!self) {
      this.log('error', `round ${m.round}: this device (${me}, ${this.peerId}) is not in its cohort ${m.cohort.id}`);
      return;
    }

    // Accept and dial cohort links while training, so the exchange starts warm.
    this.closeExchange();
    const exchange = members.length > 1 ? this.openExchange(m, run, self, members) : null;
    this.set({ cohort: { id: m.cohort.id, round: m.round, members: members.length, verified: 0, frames: 0 }, phase: 'syncing' });

    await this.preparing?.catch(() => undefined);
    let model;
    try {
      model = await this.models.ensure(m.round, m.modelHash);
    } catch (e) {
      this.log('error', `round ${m.round}: cannot get the round's model: ${describeError(e)}`);
      this.publishModel();
      this.set({ phase: 'waiting' });
      return;
    }
    this.publishModel();
    if (token.cancelled || !this.wantRunning) return;

    // Train: the assignment is public (seed from the coordinator), so a validator can redo it.
    this.set({ phase: 'training' });
    const { batchSize } = run.inner;
    const batches = assignmentIndices(m.seed, m.steps, batchSize, run.dataset.trainCount);
    const before = model.params;
    this.training = true;
    let result;
    const t0 = performance.now();
    try {
      result = await trainer.train({ params: before.slice(), batches, steps: m.steps, adamw: run.inner.adamw });
    } catch (e) {
      if (e instanceof Error && e.name === 'TrainingAbortedError') {
        this.log('info', `round ${m.round}: training stopped; nothing is reported for it`);
      } else {
        this.log('error', `round ${m.round}: training failed: ${describeError(e)}`);
      }
      this.set({ phase: 'idle' });
      return;
    } finally {
      this.training = false;
    }
    const wallMs = performance.now() - t0;
    this.set({ lastDuty: { round: m.round, busyMs: result.busyMs, wallMs: result.wallMs, preset: this.snap.governance.preset } });
    this.set({ samplesPerSec: result.samples / Math.max(wallMs / 1000, 1e-3), lastLoss: { round: m.round, before: result.lossBefore, after: result.lossAfter } });
    this.log('info', `round ${m.round}: trained ${result.steps} steps (${result.samples} samples) in ${(wallMs / 1000).toFixed(1)} s, loss ${result.lossBefore.toFixed(4)} → ${result.lossAfter.toFixed(4)}`);
    if (token.cancelled) {
      this.log('warn', `round ${m.round}: a newer round arrived during training; result dropped`);
      return;
    }
    if (this.clock.now() > m.reportEndsAt) {
      this.log('warn', `round ${m.round}: training finished after the report deadline; nothing to report`);
      return;
    }

    // Compress with error feedback.
    const residual = this.residual && this.residual.length === run.paramCount ? this.residual : new Float32Array(run.paramCount);
    const samples = result.steps * batchSize;
    const own = encodeOwnUpdate(run, m.round, pseudoGradient(before, result.params, residual), samples);
    this.residual = own.residual;
    this.evidence.set(own.hash.toLowerCase(), { run: run.id, round: m.round, frame: own.bytes, before: residual, after: own.residual });
    for (const k of [...this.evidence.keys()].slice(0, -EVIDENCE_ROUNDS_KEPT)) this.evidence.delete(k);
    this.set({ ownFrames: { count: this.snap.ownFrames.count + 1, bytes: this.snap.ownFrames.bytes + own.bytes.byteLength } });
    this.o.storage.putResidual({ run: run.id, paramTableHash: run.paramTableHash, residual: own.residual }).catch((e) => this.log('warn', `could not save the residual: ${describeError(e)}`));

    // Exchange (never blocks reporting: it settles at the deadline at the latest).
    let exchanged: ExchangeResult | null = null;
    if (exchange) {
      this.set({ phase: 'exchanging' });
      exchange.setOwnFrame(own.bytes);
      exchanged = await exchange.finished;
      const left = exchanged.peers.filter((p) => p.status !== 'complete');
      this.log(left.length ? 'warn' : 'info', `round ${m.round}: exchange got ${exchanged.frames.length}/${members.length - 1} peer frame(s)${left.length ? `; left out: ${left.map((p) => `${p.peerId} (${p.failure?.code ?? p.status})`).join(', ')}` : ''}`);
    }
    if (token.cancelled) return;

    // Aggregate, and upload it when this peer is the designated uploader (or in relay mode).
    const ownFrame = decodeFrame(own.bytes, peerUpdateLimits(run, m.round));
    const agg = cohortAggregate(run, m.round, { address: me, hash: own.hash, frame: ownFrame }, (exchanged?.frames ?? []).map((f) => ({ address: f.address, hash: f.hash, frame: f.frame })));
    let unsentAggregate: Uint8Array | null = null;
    if (agg.uploader === me) {
      this.set({ phase: 'uploading' });
      unsentAggregate = agg.bytes;
      try {
        const res = await this.api.postAggregate(run.id, m.round, agg.bytes);
        if (res.aggregateHash?.toLowerCase() !== agg.aggregateHash) this.log('warn', `round ${m.round}: the coordinator hashed our aggregate to ${res.aggregateHash}, we hashed ${agg.aggregateHash}`);
        else this.log('info', `round ${m.round}: uploaded the ${agg.relay ? 'relay' : 'cohort'} aggregate (${agg.hashes.length} frame(s), ${agg.bytes.byteLength} bytes)`);
        unsentAggregate = null;
      } catch (e) {
        this.log('error', `round ${m.round}: aggregate upload failed: ${describeError(e)}`);
      }
    }
    if (token.cancelled) return;

    // Report: a signed contribution naming our frame and the aggregate we agree with.
    this.set({ phase: 'reporting' });
    const chain = this.chain;
    if (!chain) throw new Error('no chain info from the coordinator');
    const contribution = buildContribution({
      run: run.id,
      round: m.round,
      cohort: m.cohort.id,
      frameHash: own.hash,
      aggregateHash: agg.aggregateHash,
      framesRoot: agg.framesRoot,
      residualHash: residualCommitment(residual, own.residual),
      samples,
      steps: result.steps,
      lossBefore: result.lossBefore,
      lossAfter: result.lossAfter,
      computeMs: wallMs,
      nowMs: this.clock.now(),
      nonce: randomNonce(),
    });
    const signature = await key.account.signTypedData(contributionTypedData(eip712Domain(chain.chainId, chain.distributor), contribution));
    const rec: OutboxRecord = {
      nonce: contribution.nonce.toString(),
      run: run.id,
      round: m.round,
      createdAt: this.now(),
      report: { type: 'report', contribution: contributionToJson(contribution), signature, frameHashes: agg.hashes },
      aggregate: unsentAggregate,
    };
    // Written before it is sent; deleted only when the coordinator answers for this nonce.
    try {
      await this.o.storage.putOutbox(rec);
      this.set({ outbox: this.snap.outbox + 1 });
    } catch (e) {
      this.log('warn', `round ${m.round}: could not write the report to the outbox (${describeError(e)}); sending it anyway`);
    }
    if (this.sendReport(rec)) {
      this.log('info', `round ${m.round}: reported frame ${own.hash.slice(0, 10)}… in aggregate ${agg.aggregateHash.slice(0, 10)}…`);
    } else {
      this.log('warn', `round ${m.round}: the coordinator connection is down; the report waits in the outbox and is sent on reconnect`);
    }
    if (this.roundToken === token) this.set({ phase: 'waiting' });
  }

  /** The validator sampled one of our contributions: upload its evidence before the deadline. */
  private async answerVerify(m: Extract<ServerMessage, { type: 'verify' }>): Promise<void> {
    const ev = this.evidence.get(m.frameHash.toLowerCase());
    const key = this.key;
    if (!ev || !key) {
      this.log('warn', `round ${m.round}: the validator sampled frame ${m.frameHash.slice(0, 10)}…, but this page no longer holds its evidence (reloaded?)`);
      return;
    }
    try {
      await this.api.postEvidence(m.run, m.round, key.account.address, encodeEvidence({ frame: ev.frame, residualBefore: ev.before, residualAfter: ev.after }));
      this.log('info', `round ${m.round}: sampled for verification; evidence uploaded`);
    } catch (e) {
      this.log('error', `round ${m.round}: evidence upload failed: ${describeError(e)}`);
    }
  }

  // ---- outbox ---------------------------------------------------------------------------

  private sendReport(rec: OutboxRecord): boolean {
    const sent = this.socket?.send(rec.report) ?? false;
    if (sent) {
      this.pendingNonces.set(rec.nonce, rec.round);
      this.set({ reportsSent: this.snap.reportsSent + 1 });
    }
    return sent;
  }

  /** Replays every stored report (its aggregate first, when that upload had failed). */
  private async flushOutbox(): Promise<void> {
    let pending: OutboxRecord[];
    try {
      pending = await this.o.storage.listOutbox();
    } catch (e) {
      this.log('warn', `could not read the outbox: ${describeError(e)}`);
      return;
    }
    this.set({ outbox: pending.length });
    for (const rec of pending) {
      if (this.pendingNonces.has(rec.nonce)) continue;
      if (rec.aggregate) {
        try {
          await this.api.postAggregate(rec.run, rec.round, rec.aggregate);
          this.log('info', `round ${rec.round}: uploaded the aggregate kept in the outbox`);
        } catch (e) {
          this.log('warn', `round ${rec.round}: the aggregate kept in the outbox was not accepted: ${describeError(e)}`);
        }
      }
      if (this.sendReport(rec)) this.log('info', `round ${rec.round}: re-sent the report ${rec.nonce.slice(0, 10)}… from the outbox`);
    }
  }

  private async outboxDone(nonce: string): Promise<void> {
    try {
      await this.o.storage.deleteOutbox(nonce);
    } catch (e) {
      this.log('warn', `could not clear report ${nonce.slice(0, 10)}… from the outbox: ${describeError(e)}`);
    }
    const left = await this.o.storage.listOutbox().then((l) => l.length, () => Math.max(0, this.snap.outbox - 1));
    this.set({ outbox: left });
  }

  /**
   * The coordinator refused a report of ours. REPLAYED_NONCE and DUPLICATE mean it already holds
   * it (an earlier send arrived, its ack did not): delivered. STALE_ROUND and EXPIRED mean its
   * round is over: credit for a round that committed without it cannot exist, so it is dropped
   * with a visible line. Any other code would be refused again: dropped, as an error.
   */
  private async onReportRefused(nonce: string, code: string, message: string): Promise<void> {
    const round = this.pendingNonces.get(nonce) ?? null;
    this.pendingNonces.delete(nonce);
    const what = `report${round !== null ? ` for round ${round}` : ''} ${nonce.slice(0, 10)}…`;
    if (code === 'REPLAYED_NONCE' || code === 'DUPLICATE') this.log('info', `${what}: the coordinator already has it (${code}); removed from the outbox`);
    else if (code === 'STALE_ROUND' || code === 'EXPIRED') this.log('warn', `${what} dropped from the outbox: its round is over (${code}: ${message}). If an earlier send arrived, its credit stands; otherwise none can be given for a round that committed without it.`);
    else this.log('error', `${what} refused [${code}] ${message}; dropped from the outbox`);
    await this.outboxDone(nonce);
  }

  private openExchange(m: RoundMessage, run: RunSpec, self: { address: Address; peerId: string }, members: { address: Address; peerId: string }[]): CohortExchange {
    const peer = this.peer!;
    const key = this.key!;
    const limits = peerUpdateLimits(run, m.round);
    const ex = new CohortExchange({
      run: run.id,
      round: m.round,
      self,
      members,
      endsAt: m.exchangeEndsAt,
      maxFrameBytes: maxUpdateFrameBytes(run.paramCount, run.codec.chunkSize, kPerChunk(run.codec, run.codec.chunkSize), run.codec.bits),
      decode: (bytes) => decodeFrame(bytes, limits),
      sign: (message) => key.account.signMessage({ message }),
      verify: (address, message, signature) => verifyMessage({ address, message, signature }),
      dial: (peerId) => this.net!.dialPeer(peer, peerId),
      scheduler: clockScheduler(this.clock),
      timeouts: this.o.peerTimeouts,
      onEvent: (e) => {
        switch (e.type) {
          case 'verified':
          case 'frame':
            this.set({ cohort: this.snap.cohort && { ...this.snap.cohort, ...ex.counts() } });
            if (e.type === 'frame') this.log('info', `round ${m.round}: frame from ${e.peerId} (${e.bytes} bytes)`);
            return;
          case 'sent':
            return;
          case 'peer-failed':
            this.set({ cohort: this.snap.cohort && { ...this.snap.cohort, ...ex.counts() } });
            this.log(e.final ? 'warn' : 'info', `round ${m.round}: peer ${e.peerId}: [${e.code}] ${e.message}${e.final ? ' — left out' : ''}`);
            return;
          case 'rejected-link':
            this.log('warn', `round ${m.round}: refused a link from ${e.peerId}: ${e.message}`);
            return;
        }
      },
      onBytes: (dir, n) => {
        const p = this.snap.p2p;
        this.set({ p2p: dir === 'in' ? { ...p, bytesIn: p.bytesIn + n } : { ...p, bytesOut: p.bytesOut + n } });
      },
    });
    this.exchange = ex;
    this.router?.setExchange(ex);
    ex.start();
    // Links stay open after our exchange settles so slower members still get our frame;
    // they close at the report deadline or when the next round begins.
    this.exchangeDispose = setTimeout(() => this.closeExchange(ex), Math.max(0, this.clock.msUntil(m.reportEndsAt)));
    return ex;
  }

  private closeExchange(which: CohortExchange | null = this.exchange): void {
    if (!which) return;
    which.dispose();
    if (this.exchange === which) {
      this.exchange = null;
      this.router?.setExchange(null);
      if (this.exchangeDispose) clearTimeout(this.exchangeDispose);
      this.exchangeDispose = null;
    }
  }
}
