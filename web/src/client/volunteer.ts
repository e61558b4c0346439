// The volunteer client: consent, device key, GPU trainer, coordinator socket, PeerJS peer,
// and the round pipeline (sync → train → compress → exchange → aggregate → report),
// plus model commits and claims. UI-free: it publishes an immutable VolunteerSnapshot to
// subscribers (the Svelte store, the test hook) and takes commands (consent, start, stop, claim).
import { createPublicClient, http, verifyMessage, type Address, type Hex } from 'viem';
import type { Peer } from 'peerjs';
import { decodeFrame, kPerChunk } from '../../../shared/codec.ts';
import { encodeEvidence, residualCommitment, trainShape, PROTOCOL_VERSION, contributionToJson, delegationToJson, helloMessage, type AccountSummary, type AdapterInfo, type ChainInfo, type ContributionState, type IceServer, type ServerMessage } from '../../../shared/wire/index.ts';
import { rewardDistributorAbi } from '../../../shared/chain/abi.ts';
import { verifyRewardProof } from '../../../shared/chain/proof.ts';
import { DEFAULT_RUN, modelOf, type RunSpec } from '../../../shared/config.ts';
import type { GptDims } from '../../../shared/model.ts';
import { contributionTypedData, eip712Domain } from '../../../shared/eip712.ts';
import { assignmentIndices } from '../../../shared/assignment.ts';
import { maxUpdateFrameBytes } from '../../../shared/codec.ts';
import { CoordinatorApi } from './api.ts';
import { signDelegation, type DiscoveredWallet, type Eip1193Provider, type WalletInfo } from './wallets.ts';
import { ServerClock, clockScheduler } from './clock.ts';
import { CoordinatorSocket, socketUrl } from './connection.ts';
import { loadDeviceKey, loadOrCreateDeviceKey, type DeviceKey } from './device-key.ts';
import { describeError } from './errors.ts';
import { TrainingAbortedError, WebGpuUnavailableError } from '../../../kernels/errors.ts';
import { isIdlegradError } from '../../../shared/errors.ts';
import { CohortExchange, type ExchangeResult, type PeerTimeouts } from './exchange.ts';
import { ModelSync } from './local-model.ts';
import type { IncomingRouter } from './peer-net.ts';
import { adaptiveSteps, buildContribution, cohortAggregate, encodeOwnUpdate, peerUpdateLimits, pseudoGradient, randomNonce } from '../../../shared/round.ts';
import type { ClientStorage, OutboxRecord, SettingsRecord } from './storage.ts';
import type { ComputeDevice, Trainer } from './trainer.ts';
import { estimateContribution, type ContributionEstimate } from './estimate.ts';

/**
 * The claim transaction's code (viem's wallet actions), loaded when a volunteer first claims: it
 * kept the page's initial JavaScript over its budget once every reply was parsed (shared/wire).
 */
const claimModule = () => import('./claim.ts');

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

export interface DeviceProfile {
  status: 'idle' | 'measuring' | 'done' | 'failed';
  /** Measured on the run's model shape by the worker's micro-benchmark. */
  samplesPerSec: number | null;
  limits: Record<string, number> | null;
  /** The run settings the estimate uses (public, from /api/run). */
  run: Pick<RunSpec, 'id' | 'inner' | 'timing' | 'rewards'> | null;
  estimate: ContributionEstimate | null;
  message: string | null;
}

export type PauseReason = 'active' | 'hidden' | 'battery' | 'pressure';
/** Compute Pressure API states (PressureObserver 'cpu'). */
export type PressureState = 'nominal' | 'fair' | 'serious' | 'critical';

export interface Governance extends SettingsRecord {
  userActive: boolean;
  hidden: boolean;
  /** From the Battery Status API where it exists; null elsewhere. */
  battery: { level: number; charging: boolean } | null;
  /** From the Compute Pressure API where it exists; null elsewhere. */
  pressure: PressureState | null;
  /**
   * The trainer computes on the CPU (the CPU path, or a software WebGPU adapter such as
   * SwiftShader): then CPU pressure is largely this training's own load, and is not followed
   * (following it would pause the training for its own sake, over and over).
   */
  softwareDevice: boolean;
  pausedBy: PauseReason[];
}

/** Whether CPU pressure readings steer the trainer now. */
export const pressureApplies = (g: Pick<Governance, 'followPressure' | 'softwareDevice'>) => g.followPressure && !g.softwareDevice;

/** Adapters that run WebGPU on the CPU. */
export const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

/**
 * What pauses training: the volunteer is active (idle-only mode), the tab is hidden (if chosen),
 * the battery runs below the threshold while not charging, or the CPU is under critical pressure.
 * Under 'serious' pressure the GPU budget drops to Light instead.
 */
export function pauseReasons(g: Omit<Governance, 'pausedBy'>): PauseReason[] {
  const out: PauseReason[] = [];
  if (g.idleOnly && g.userActive) out.push('active');
  if (g.pauseWhenHidden && g.hidden) out.push('hidden');
  if (g.battery && !g.battery.charging && g.battery.level < g.batteryMin) out.push('battery');
  if (g.pressure === 'critical' && pressureApplies(g)) out.push('pressure');
  return out;
}

export const DEFAULT_SETTINGS: SettingsRecord = { preset: 'full', idleOnly: false, idleAfterS: 30, pauseWhenHidden: false, batteryMin: 0.2, followPressure: true };

export interface LogEntry {
  at: number;
  level: LogLevel;
  text: string;
}

/** Verify my reward: how often to ask again while the chain's root and the proof's epoch differ (an epoch being posted). */
const REWARD_CHECK_RETRIES = 6;

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
  /**
   * Throttle preset and pause rules (persisted), the signals they watch (is the volunteer
   * active, is the tab hidden, the battery, the Compute Pressure API's CPU state), and what
   * pauses training right now (`pausedBy`, empty while it may run).
   */
  governance: Governance;
  /** The device profile before joining: measured speed, the device's limits, the estimate at the current preset. */
  profile: DeviceProfile;
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
  /**
   * Wallets: injected ones found by EIP-6963, the bound one (the Delegation's), its own account
   * summary; WalletConnect when the platform configures it, with the pairing URI while a
   * connection waits for the wallet's approval.
   */
  wallets: { found: WalletInfo[]; busy: boolean; message: string | null; account: AccountSummary | null; walletConnect: boolean; pairingUri: string | null };
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
  /** The run this page was asked to join (the widget's run="…"); a coordinator training another is refused. */
  run?: number | null;
  /** Web Locks (navigator.locks by default); null where the browser has none. */
  locks?: LockManager | null;
  /** Whether this page has navigator.gpu (default: looked up); without it the worker trains on the CPU. */
  hasWebGpu?: boolean;
  now?: () => number;
  peerTimeouts?: Partial<PeerTimeouts>;
  maxLogEntries?: number;
  /**
   * TEST ONLY (e2e/swarm.ts --byzantine): replaces the trained θ_local (from θ_r = `before`)
   * before the update is compressed, as an attacking page would. Never set in production.
   */
  shapeTrained?: (before: Float32Array, after: Float32Array, round: number) => Float32Array;
}

export const PAUSE_TEXT: Record<PauseReason, string> = {
  active: 'you are using this computer',
  hidden: 'this tab is hidden',
  battery: 'the battery is low and not charging',
  pressure: 'the CPU is under critical pressure',
};

/** Saved settings from an older or tampered record: keep only well-formed fields. */
function validSettings(r: Partial<SettingsRecord>): Partial<SettingsRecord> {
  const out: Partial<SettingsRecord> = {};
  if (r.preset && r.preset in DUTY_PRESETS) out.preset = r.preset;
  if (typeof r.idleOnly === 'boolean') out.idleOnly = r.idleOnly;
  if (typeof r.idleAfterS === 'number' && r.idleAfterS >= 1 && r.idleAfterS <= 3600) out.idleAfterS = r.idleAfterS;
  if (typeof r.pauseWhenHidden === 'boolean') out.pauseWhenHidden = r.pauseWhenHidden;
  if (typeof r.batteryMin === 'number' && r.batteryMin >= 0 && r.batteryMin <= 1) out.batteryMin = r.batteryMin;
  if (typeof r.followPressure === 'boolean') out.followPressure = r.followPressure;
  return out;
}

const ZERO_COUNTS = (): Record<ContributionState, number> => ({ pending: 0, accepted: 0, verified: 0, rejected: 0, batched: 0, claimable: 0, claimed: 0 });

type RoundMessage = Extract<ServerMessage, { type: 'round' }>;

type Claimable = NonNullable<AccountSummary['claimable']>;

/** The key of a WalletConnect provider among the wallets' providers (EIP-6963 ones are keyed by uuid). */
const WALLETCONNECT_ID = 'walletconnect';

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
  /** Providers of the wallets found (by EIP-6963 uuid), and the one whose Delegation this session made. */
  private readonly walletProviders = new Map<string, Eip1193Provider>();
  private boundProvider: { wallet: Address; provider: Eip1193Provider } | null = null;
  private bindWaiter: ((error: string) => void) | null = null;
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
      governance: { ...DEFAULT_SETTINGS, userActive: false, hidden: false, battery: null, pressure: null, softwareDevice: false, pausedBy: [] },
      lastDuty: null,
      profile: { status: 'idle', samplesPerSec: null, limits: null, run: null, estimate: null, message: null },
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
      wallets: { found: [], busy: false, message: null, account: null, walletConnect: false, pairingUri: null },
      log: [],
      errors: [],
    };
  }

  /** Loads consent and the device key if they exist; computes and connects nothing. */
  static async create(o: VolunteerOptions): Promise<VolunteerClient> {
    const c = new VolunteerClient(o);
    if (!o.storage.persistent && o.storage.reason) c.log('warn', o.storage.reason);
    try {
      const saved = await o.storage.getSettings();
      if (saved) c.set({ governance: { ...c.snap.governance, ...validSettings(saved) } });
    } catch (e) {
      c.log('warn', `could not read your saved settings: ${describeError(e)}`);
    }
    try {
      const consent = await o.storage.getConsent();
      const expiresAt = consent ? consent.at + c.ttl : 0;
      if (consent && consent.version === CONSENT_VERSION && expiresAt > c.now()) {
        c.key = await loadDeviceKey(o.storage);
        if (c.key) {
          c.set({ consentAt: consent.at, consentExpiresAt: expiresAt, address: c.key.account.address });
          void c.refreshAccount();
          void c.learnChain();
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
      void this.learnChain();
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
    this.govern({ preset });
    this.log('info', `GPU budget: ${preset} (${Math.round(DUTY_PRESETS[preset] * 100)} % of the time)`);
  }

  /** Idle-only mode: training pauses while the volunteer uses the machine (see setUserActive). */
  setIdleOnly(on: boolean): void {
    this.govern({ idleOnly: on });
    this.log('info', on ? 'idle-only: training pauses while you use this computer' : 'idle-only off');
  }

  /** Seconds without input before idle-only mode resumes (1 s to 1 h). */
  setIdleAfter(seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    this.govern({ idleAfterS: Math.min(3600, Math.max(1, Math.round(seconds))) });
  }

  /** Pause while this tab is hidden (another tab in front, window minimised). */
  setPauseWhenHidden(on: boolean): void {
    this.govern({ pauseWhenHidden: on });
  }

  /** Pause on battery below this level (0–1) while not charging; 0 turns it off. */
  setBatteryMin(level: number): void {
    if (!Number.isFinite(level)) return;
    this.govern({ batteryMin: Math.min(1, Math.max(0, level)) });
  }

  /** Follow the Compute Pressure API (where the browser has it). */
  setFollowPressure(on: boolean): void {
    this.govern({ followPressure: on });
  }

  /** From the page's activity watcher: true on input, false after N idle seconds. */
  setUserActive(active: boolean): void {
    if (this.snap.governance.userActive !== active) this.govern({ userActive: active });
  }

  /** From the page: visibility, the Battery Status API, the Compute Pressure API. */
  setEnvironment(env: Partial<Pick<Governance, 'hidden' | 'battery' | 'pressure'>>): void {
    this.govern(env);
  }

  private govern(patch: Partial<Governance>): void {
    const before = this.snap.governance;
    const next = { ...before, ...patch };
    const pausedBy = pauseReasons(next);
    this.set({ governance: { ...next, pausedBy } });
    const p = this.snap.profile;
    if (patch.preset && p.run && p.samplesPerSec !== null) this.set({ profile: { ...p, estimate: estimateContribution(p.run, p.samplesPerSec, DUTY_PRESETS[patch.preset]) } });
    const settingsChanged = (Object.keys(DEFAULT_SETTINGS) as (keyof SettingsRecord)[]).some((k) => k in patch && patch[k] !== before[k]);
    if (settingsChanged) {
      const rec: SettingsRecord = { preset: next.preset, idleOnly: next.idleOnly, idleAfterS: next.idleAfterS, pauseWhenHidden: next.pauseWhenHidden, batteryMin: next.batteryMin, followPressure: next.followPressure };
      this.o.storage.putSettings(rec).catch((e: unknown) => this.log('warn', `could not save your settings: ${describeError(e)}`));
    }
    const was = before.pausedBy.join(',');
    if (was !== pausedBy.join(',')) {
      if (pausedBy.length) this.log('info', `training paused: ${pausedBy.map((r) => PAUSE_TEXT[r]).join('; ')}`);
      else if (was) this.log('info', 'training resumes');
    }
    if (patch.pressure !== undefined && patch.pressure !== before.pressure && patch.pressure === 'serious' && pressureApplies(next)) this.log('info', 'the CPU is under serious pressure: GPU budget held at Light');
    this.pushThrottle();
  }

  private pushThrottle(): void {
    const g = this.snap.governance;
    const duty = g.pressure === 'serious' && pressureApplies(g) ? Math.min(DUTY_PRESETS[g.preset], DUTY_PRESETS.light) : DUTY_PRESETS[g.preset];
    this.trainer?.setThrottle({ duty, paused: g.pausedBy.length > 0 }).catch((e: unknown) => this.log('warn', `could not apply the GPU budget: ${describeError(e)}`));
  }

  /**
   * Device profile at join, on request (a button before consent): acquire the adapter, read its
   * limits, run the worker's short micro-benchmark (a few training steps on synthetic data) on
   * the run's model, and estimate contribution and credit per hour. No key, no connection.
   */
  async profileDevice(): Promise<ContributionEstimate | null> {
    if (this.snap.profile.status === 'measuring') return null;
    this.set({ profile: { ...this.snap.profile, status: 'measuring', message: null } });
    try {
      const { run } = await this.api.run();
      const trainer = await this.ensureTrainer();
      await this.initTrainer(run.sizes, run.inner.batchSize);
      const b = await trainer.benchmark();
      const limits = await trainer.limits();
      const settings = { id: run.id, inner: run.inner, timing: run.timing, rewards: run.rewards };
      const estimate = estimateContribution(settings, b.samplesPerSec, DUTY_PRESETS[this.snap.governance.preset]);
      this.set({ profile: { status: 'done', samplesPerSec: b.samplesPerSec, limits, run: settings, estimate, message: null }, gpu: { ...this.snap.gpu, gflops: b.gflops } });
      this.log('info', `device profile: ${Math.round(b.samplesPerSec)} samples/s on run ${run.id}'s model; estimate ${estimate.samplesPerHour} samples/h`);
      return estimate;
    } catch (e) {
      const message = `could not measure this device: ${describeError(e)}`;
      this.set({ profile: { ...this.snap.profile, status: 'failed', message } });
      this.log('error', message);
      return null;
    }
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

  /** Claim what the ledger says is claimable: the delegated wallet's leaf from the wallet, else the device key's. */
  async claim(): Promise<Hex | null> {
    if (this.snap.account?.wallet) return this.claimToWallet(this.snap.account.wallet);
    const claimable = this.snap.account?.claimable;
    if (!this.key || !claimable || this.snap.claim.busy) return null;
    this.set({ claim: { ...this.snap.claim, busy: true } });
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      const key = this.key;
      const hash = await this.withFreshProof(key.account.address, claimable, async (c) => (await claimModule()).claimTokens({ api: this.api, account: key.account, chain, claimable: c, origin: this.o.origin, log: (l, t) => this.log(l, t) }));
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

  // ---- wallets -------------------------------------------------------------------------

  /** From the page's EIP-6963 discovery. */
  setWallets(list: DiscoveredWallet[]): void {
    for (const w of list) this.walletProviders.set(w.info.uuid, w.provider);
    this.set({ wallets: { ...this.snap.wallets, found: list.map((w) => w.info) } });
  }

  /**
   * Bind a wallet: it signs an EIP-712 Delegation naming this device key; the coordinator
   * checks it (coordinator/identity.ts) and from then on this device's credit accrues to the
   * wallet, and claims pay the wallet.
   */
  async bindWallet(uuid: string): Promise<Address | null> {
    const provider = this.walletProviders.get(uuid);
    const key = this.key;
    if (!provider || !key || this.snap.wallets.busy) return null;
    this.set({ wallets: { ...this.snap.wallets, busy: true, message: null } });
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      const { delegation, signature } = await signDelegation(provider, key.account.address, eip712Domain(chain.chainId, chain.distributor), this.now());
      await this.ensureSession();
      const refused = new Promise<never>((_, reject) => (this.bindWaiter = (err) => reject(new Error(err))));
      if (!this.socket?.send({ type: 'bind', delegation: delegationToJson(delegation), signature })) throw new Error('the coordinator connection closed');
      await Promise.race([refused, this.until(() => this.snap.account?.wallet?.toLowerCase() === delegation.wallet, 15_000, 'the coordinator did not confirm the binding')]);
      this.boundProvider = { wallet: delegation.wallet, provider };
      this.set({ wallets: { ...this.snap.wallets, busy: false, message: null } });
      this.log('info', `wallet ${delegation.wallet} bound: this device's credit now accrues to it, and claims pay it`);
      void this.refreshAccount();
      return delegation.wallet;
    } catch (e) {
      const message = `binding the wallet failed: ${describeError(e)}`;
      this.set({ wallets: { ...this.snap.wallets, busy: false, message } });
      this.log('error', message);
      return null;
    } finally {
      this.bindWaiter = null;
    }
  }

  /** The chain, and whether the platform offers WalletConnect, as soon as there is a key to bind (GET /api/run). */
  private async learnChain(): Promise<void> {
    if (this.chain) return;
    try {
      const { chain } = await this.api.run();
      const known = (this.chain ??= chain);
      this.set({ wallets: { ...this.snap.wallets, walletConnect: !!known.walletConnect } });
    } catch (e) {
      this.log('warn', `could not read the platform's chain settings: ${describeError(e)}`);
    }
  }

  /**
   * Bind a wallet connected through WalletConnect: loads the provider (a lazy chunk), shows the
   * pairing URI and the QR modal, waits for the wallet to approve, then binds it like an
   * injected one (it signs the Delegation; claims go to it).
   */
  async bindWalletConnect(): Promise<Address | null> {
    if (this.snap.wallets.busy || !this.key) return null;
    this.set({ wallets: { ...this.snap.wallets, busy: true, message: null, pairingUri: null } });
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      if (!chain.walletConnect) throw new Error('this platform has no WalletConnect project id configured');
      // A separate bundle (vite.config.ts walletConnectBundle), loaded only now.
      const { connectWalletConnect } = (await import(/* @vite-ignore */ new URL('/wc/walletconnect.js', this.o.origin).href)) as typeof import('./walletconnect.ts');
      this.log('info', 'WalletConnect: waiting for a wallet to approve the connection');
      const provider = await connectWalletConnect({
        ...chain.walletConnect, chainId: chain.chainId, rpcUrl: new URL(chain.rpcUrl, this.o.origin).href, origin: this.o.origin,
        onUri: (uri) => this.set({ wallets: { ...this.snap.wallets, pairingUri: uri } }),
      });
      this.walletProviders.set(WALLETCONNECT_ID, provider);
    } catch (e) {
      const message = `WalletConnect failed: ${describeError(e)}`;
      this.set({ wallets: { ...this.snap.wallets, busy: false, message, pairingUri: null } });
      this.log('error', message);
      return null;
    }
    this.set({ wallets: { ...this.snap.wallets, busy: false, pairingUri: null } });
    return this.bindWallet(WALLETCONNECT_ID);
  }

  /**
   * Sends a claim; if it fails and the ledger meanwhile holds a newer epoch for the account, once
   * more with that epoch's proof. A reward epoch posted while a claim is on its way replaces
   * the root its proof leads to, and the contract refuses it.
   */
  private async withFreshProof(account: Address, claimable: Claimable, send: (c: Claimable) => Promise<Hex>): Promise<Hex> {
    try {
      return await send(claimable);
    } catch (first) {
      const fresh = (await this.api.account(account).catch(() => null))?.claimable;
      if (!fresh || (fresh.epoch === claimable.epoch && fresh.cumulativeWei === claimable.cumulativeWei)) throw first;
      this.log('warn', `the claim failed (${describeError(first)}); epoch ${fresh.epoch} is on chain now: claiming again with its proof`);
      return send(fresh);
    }
  }

  private async claimToWallet(wallet: Address): Promise<Hex | null> {
    const claimable = this.snap.wallets.account?.claimable;
    const provider = this.boundProvider?.wallet === wallet.toLowerCase() ? this.boundProvider.provider : null;
    if (!claimable || this.snap.claim.busy) return null;
    if (!provider) {
      this.log('warn', `your credit is claimed by the wallet ${wallet}: bind it again on this page (or claim from it) to claim`);
      return null;
    }
    this.set({ claim: { ...this.snap.claim, busy: true } });
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      const hash = await this.withFreshProof(wallet, claimable, async (c) => (await claimModule()).claimWithWallet({ api: this.api, provider, wallet, chain, claimable: c, origin: this.o.origin, log: (l, t) => this.log(l, t) }));
      this.set({ claim: { busy: false, txHashes: [...this.snap.claim.txHashes, hash] } });
      await this.refreshAccount();
      return hash;
    } catch (e) {
      this.set({ claim: { ...this.snap.claim, busy: false } });
      this.log('error', `claim failed: ${describeError(e)}`);
      return null;
    }
  }

  /** A welcomed coordinator session, connecting if needed (no training starts). */
  private async ensureSession(): Promise<void> {
    if (this.socket?.open && this.welcomed) return;
    if (!this.socket) await this.connect();
    await this.until(() => !!this.socket?.open && this.welcomed, 20_000, 'could not reach the coordinator');
  }

  private until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
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

  /**
   * Verify my reward: fetch this account's leaf and proof from the coordinator, read the
   * root the RewardDistributor holds now, and check the proof here, in the page.
   */
  async verifyReward(): Promise<RewardCheck | null> {
    if (!this.key) return null;
    const account = this.key.account.address;
    try {
      const chain = this.chain ?? (this.chain = (await this.api.dashboard()).chain);
      const client = createPublicClient({ transport: http(new URL(chain.rpcUrl, this.o.origin).href) });
      const readRoot = () => client.readContract({ address: chain.distributor, abi: rewardDistributorAbi, functionName: 'merkleRoot' });
      // The coordinator records an epoch as posted just after its transaction mines, so a check
      // that runs while the next epoch is being posted reads the proof of epoch N and the root
      // of N + 1. Such a pair is no verdict: ask again (a few times) until the chain's root
      // is the root the proof names; a proof that does not lead to that root fails below.
      let p = await this.api.rewardProof(account);
      let onChainRoot = await readRoot();
      for (let retry = 0; retry < REWARD_CHECK_RETRIES && onChainRoot.toLowerCase() !== p.root.toLowerCase(); retry++) {
        await new Promise((r) => setTimeout(r, 500));
        p = await this.api.rewardProof(account);
        onChainRoot = await readRoot();
      }
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
      this.onAccount(await this.api.account(this.key.account.address));
    } catch (e) {
      // A fresh key has no account yet: that is not an error worth alarming anyone about.
      this.log(isIdlegradError(e, 'NOT_FOUND') ? 'info' : 'warn', `account: ${describeError(e)}`);
    }
  }

  /** The device's summary; with a delegated wallet, also the wallet's (its leaf is what gets claimed). */
  private onAccount(summary: AccountSummary): void {
    this.set({ account: summary });
    const wallet = summary.wallet;
    if (!wallet) {
      if (this.snap.wallets.account) this.set({ wallets: { ...this.snap.wallets, account: null } });
      return;
    }
    this.api.account(wallet).then(
      (w) => this.set({ wallets: { ...this.snap.wallets, account: w } }),
      (e: unknown) => this.log('warn', `wallet account: ${describeError(e)}`),
    );
  }

  // ---- GPU ----------------------------------------------------------------------------

  private async ensureTrainer(): Promise<Trainer> {
    if (this.trainer) return this.trainer;
    this.set({ gpu: { ...this.snap.gpu, status: 'probing', message: null } });
    const trainer = this.o.createTrainer();
    let adapter: AdapterInfo | null = null;
    try {
      const hasWebGpu = this.o.hasWebGpu ?? (typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu);
      if (!hasWebGpu) throw new WebGpuUnavailableError('navigator.gpu is missing');
      adapter = await trainer.probe();
    } catch (e) {
      const unavailable = e instanceof WebGpuUnavailableError;
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
    const software = !adapter || SOFTWARE_ADAPTER.test(`${adapter.vendor} ${adapter.architecture} ${adapter.description}`);
    if (software && this.snap.governance.followPressure) this.log('info', 'training runs on the CPU here (no hardware GPU): CPU pressure is its own load, so it is not followed');
    this.govern({ softwareDevice: software });
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
        this.useIce(m.ice?.servers ?? []);
        void this.onWelcome(m.run, m.round, m.modelHash, m.chain);
        return;
      case 'ice':
        this.useIce(m.ice.servers);
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
        this.bindWaiter?.(`[${m.code}] ${m.message}`);
        return;
      case 'account':
        this.onAccount(m.summary);
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

  /** STUN/TURN from the coordinator for the links dialled or answered from now on. */
  private useIce(servers: IceServer[]): void {
    if (this.peer && this.net) this.net.useIceServers(this.peer, servers);
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
        partner: this.o.partner ?? null,
        // Before the trainer exists (a connection only to deliver the outbox) this names no device.
        ...(this.snap.gpu.device ? { device: this.snap.gpu.device === 'cpu' ? ('cpu' as const) : ('webgpu' as const) } : {}),
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
    if (this.o.run != null && run.id !== this.o.run) {
      this.log('error', `this widget asks for run ${this.o.run}, but the platform trains run ${run.id} "${run.name}": nothing is trained`);
      this.wantRunning = false;
      this.dropTrainerLock();
      this.set({ state: 'error', phase: 'idle' });
      return;
    }
    const runChanged = this.runSpec?.id !== run.id || this.runSpec?.paramTableHash !== run.paramTableHash;
    const first = this.lastWelcome?.run !== run || this.lastWelcome.round !== round;
    this.runSpec = run;
    this.chain = chain;
    if (this.snap.wallets.walletConnect !== !!chain.walletConnect) this.set({ wallets: { ...this.snap.wallets, walletConnect: !!chain.walletConnect } });
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
      const shape = trainShape(run.dataset);
      const cached = await this.o.storage.getDataset(dataKey).catch(() => undefined);
      let data;
      if (cached && cached.count === shape.count && cached.features === shape.features) {
        data = { ...cached, classes: shape.classes };
      } else {
        this.log('info', 'downloading the training set');
        data = await this.api.trainData(shape);
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
    // Epoch pushes go to the beneficiary's sessions: with a delegated wallet, ask for ours.
    if (this.snap.account?.wallet) for (const ms of [1_500, 6_000]) setTimeout(() => void this.refreshAccount(), ms);
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
    // Adaptive inner steps: what fits the rest of the training budget at last round's pace.
    const pace = this.snap.samplesPerSec ? (1000 * batchSize) / this.snap.samplesPerSec : null;
    const steps = adaptiveSteps(m.steps, m.startsAt + run.timing.trainMs - this.clock.now(), pace);
    const batches = assignmentIndices(m.seed, steps, batchSize, run.dataset.trainCount);
    const before = model.params;
    this.training = true;
    let result;
    const t0 = performance.now();
    try {
      result = await trainer.train({ params: before.slice(), batches, steps, adamw: run.inner.adamw });
    } catch (e) {
      if (e instanceof TrainingAbortedError) {
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
    const trained = this.o.shapeTrained ? this.o.shapeTrained(before, result.params, m.round) : result.params;
    const own = encodeOwnUpdate(run, m.round, pseudoGradient(before, trained, residual), samples);
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
      report: { type: 'report', contribution: contributionToJson(contribution), signature, frameHashes: agg.hashes, device: this.snap.gpu.device === 'cpu' ? 'cpu' : 'webgpu', partner: this.o.partner ?? null },
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
      maxFrameBytes: maxUpdateFrameBytes(run.paramCount, run.codec.chunkSize, kPerChunk(run.codec, run.codec.chunkSize), run.codec.bits, run.codec.indexCoding),
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
