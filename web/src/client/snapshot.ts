// What the volunteer client shows: one immutable VolunteerSnapshot, replaced on every change
// and published to subscribers (the Svelte store, the e2e page's test hook) once per
// microtask. Every module of the client writes its part through one SnapshotStore.
import type { Address, Hex } from 'viem';
import type { AccountSummary, AdapterInfo, ContributionState } from '../../../shared/wire/index.ts';
import { DEFAULT_VERIFICATION, type Preset, type RunSpec } from '../../../shared/config.ts';
import type { DeviceNeeds } from '../../../shared/device-needs.ts';
import type { ContributionEstimate } from './estimate.ts';
import type { DutyPreset, Governance } from './governance.ts';
import type { ComputeDevice } from './trainer.ts';
import type { WalletInfo } from './wallet/wallets.ts';
import type { TokenInfo } from './wallet/token.ts';

export type ClientState = 'loading' | 'needs-consent' | 'ready' | 'starting' | 'running' | 'stopping' | 'stopped' | 'error';
export type RoundPhase = 'idle' | 'syncing' | 'training' | 'exchanging' | 'uploading' | 'reporting' | 'waiting';
export type LogLevel = 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, text: string) => void;

export interface DeviceProfile {
  /** 'unfit': the run needs more than this device's GPU offers (`shortfalls` say what); nothing was measured. */
  status: 'idle' | 'measuring' | 'done' | 'failed' | 'unfit';
  /** Measured on the run's model shape by the worker's micro-benchmark. */
  samplesPerSec: number | null;
  limits: Record<string, number> | null;
  /** The run settings the estimate uses (public, from /api/run). */
  run: Pick<RunSpec, 'id' | 'inner' | 'timing' | 'rewards'> | null;
  estimate: ContributionEstimate | null;
  /** What the run needs of a device (shared/device-needs.ts), once the run is known. */
  needs: DeviceNeeds | null;
  /** Why this device cannot join the run (deviceShortfalls); empty when it fits or is not checked yet. */
  shortfalls: string[];
  message: string | null;
}

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
  gpu: {
    status: 'idle' | 'probing' | 'ready' | 'unavailable' | 'lost';
    device: ComputeDevice | null;
    adapter: AdapterInfo | null;
    gflops: number | null;
    message: string | null;
  };
  connection: 'offline' | 'connecting' | 'connected';
  /** The run this page would join, read before consent (GET /api/run, no session): what the consent card describes. */
  offer: { preset: Preset; paramCount: number } | null;
  /** The joined run; vestingRounds is its credit rule's W (coordinator/verify/settings.ts). */
  run: { id: number; name: string; paramCount: number; steps: number; batchSize: number; vestingRounds: number } | null;
  /** The coordinator's current round. */
  round: number | null;
  /** The local model: the round it is at and its hash. */
  model: { round: number; hash: Hex } | null;
  cohort: { id: number; round: number; members: number; verified: number; frames: number } | null;
  samplesPerSec: number | null;
  /** The latest round's training loss: its first and last batch, and the mean over its `steps` steps (the figure shown). */
  lastLoss: { round: number; before: number; after: number; mean: number; steps: number } | null;
  p2p: { bytesIn: number; bytesOut: number };
  /** This page's own update frames (one per round it trained) and their total size. */
  ownFrames: { count: number; bytes: number };
  reportsSent: number;
  lastAck: { nonce: string; state: ContributionState; reason: string | null; round: number | null } | null;
  account: AccountSummary | null;
  /** Claims: the transactions mined from this page, and one sent and not yet mined (kept across reloads: storage 'claim'). */
  claim: { busy: boolean; txHashes: Hex[]; pending: Hex | null };
  /** The reward token as its contract describes it (wallet/token.ts); null until read. */
  token: TokenInfo | null;
  /** The block explorer the platform links transactions and addresses to (ChainInfo.explorerUrl); null: none. */
  explorer: string | null;
  /**
   * Wallets: injected ones found by EIP-6963, the bound one (the Delegation's), its own account
   * summary; WalletConnect when the platform configures it, with the pairing URI while a
   * connection waits for the wallet's approval.
   */
  wallets: {
    found: WalletInfo[];
    busy: boolean;
    message: string | null;
    account: AccountSummary | null;
    walletConnect: boolean;
    pairingUri: string | null;
    /** The wallet this session bound (its provider can sign here: claim from it, add the token). */
    bound: Address | null;
  };
  /** "Verify my reward": the ledger's leaf for this account checked against the root on chain. */
  rewardCheck: RewardCheck | null;
  log: LogEntry[];
  errors: string[];
}

/** What the page shows of the run it joined. */
export function runSummaryOf(run: RunSpec): NonNullable<VolunteerSnapshot['run']> {
  const { id, name, paramCount, inner } = run;
  return {
    id,
    name,
    paramCount,
    steps: inner.steps,
    batchSize: inner.batchSize,
    vestingRounds: run.verification?.vestingRounds ?? DEFAULT_VERIFICATION.vestingRounds,
  };
}

export function initialSnapshot(o: {
  storage: { persistent: boolean; reason: string | null };
  partner: string | null;
  governance: Governance;
}): VolunteerSnapshot {
  return {
    state: 'loading',
    phase: 'idle',
    storage: { persistent: o.storage.persistent, reason: o.storage.reason },
    consentAt: null,
    consentExpiresAt: null,
    address: null,
    otherTabTraining: false,
    lastStop: null,
    outbox: 0,
    governance: o.governance,
    lastDuty: null,
    profile: { status: 'idle', samplesPerSec: null, limits: null, run: null, estimate: null, needs: null, shortfalls: [], message: null },
    partner: o.partner,
    gpu: { status: 'idle', device: null, adapter: null, gflops: null, message: null },
    connection: 'offline',
    offer: null,
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
    claim: { busy: false, txHashes: [], pending: null },
    token: null,
    explorer: null,
    rewardCheck: null,
    wallets: { found: [], busy: false, message: null, account: null, walletConnect: false, pairingUri: null, bound: null },
    log: [],
    errors: [],
  };
}

/** The one writer of the snapshot: patches, the event log, and batched publication. */
export class SnapshotStore {
  private snap: VolunteerSnapshot;
  private readonly listeners = new Set<(s: VolunteerSnapshot) => void>();
  private emitQueued = false;

  constructor(
    initial: VolunteerSnapshot,
    private readonly maxLogEntries = 200,
  ) {
    this.snap = initial;
  }

  get(): VolunteerSnapshot {
    return this.snap;
  }

  subscribe(fn: (s: VolunteerSnapshot) => void): () => void {
    this.listeners.add(fn);
    fn(this.snap);
    return () => this.listeners.delete(fn);
  }

  set(patch: Partial<VolunteerSnapshot>): void {
    this.snap = { ...this.snap, ...patch };
    if (this.emitQueued) return;
    this.emitQueued = true;
    queueMicrotask(() => {
      this.emitQueued = false;
      for (const fn of this.listeners) fn(this.snap);
    });
  }

  readonly log: Log = (level, text) => {
    const entry = { at: Date.now(), level, text };
    const max = this.maxLogEntries;
    this.set({
      log: [...this.snap.log, entry].slice(-max),
      errors: level === 'error' ? [...this.snap.errors, text].slice(-max) : this.snap.errors,
    });
    if (level === 'error') console.error(`[idlegrad] ${text}`);
  };
}
