// Messages between the browser and the coordinator (WebSocket, JSON), declared once.
// Both sides parse what they receive with the functions below and switch on `type`.
import { isAddress, isHex, type Address, type Hex } from 'viem';
import type { RunSpec } from './config.ts';
import type { Contribution, Delegation } from './eip712.ts';
import { IdlegradError, type ErrorCode } from './errors.ts';
import type { RunInsights } from './dashboard.ts';

export const PROTOCOL_VERSION = 1;

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
}

/** What trained a contribution: the WebGPU kernels, or the CPU reference path without WebGPU. */
export type DeviceKind = 'webgpu' | 'cpu';
export const DEVICE_KINDS: readonly DeviceKind[] = ['webgpu', 'cpu'];

/** A partner site's id as the widget passes it (`<idlegrad-widget partner="…">`). */
export const PARTNER_ID = /^[A-Za-z0-9][\w.\-]{0,63}$/;

/** GET /api/partners: credit earned through each partner's widget (credited states only). */
export interface PartnerSummary {
  partner: string;
  volunteers: number;
  contributions: number;
  samples: number;
  creditWei: string;
}

export interface ChainInfo {
  chainId: number;
  distributor: Address;
  token: Address;
  /** JSON-RPC endpoint reachable from the browser (the coordinator proxies one at /rpc). */
  rpcUrl: string;
  /** WalletConnect for volunteers without an injected wallet: absent when no project id is configured. */
  walletConnect?: { projectId: string; relayUrl: string };
}

/** Contribution as JSON: bigints as decimal strings. */
export type ContributionJson = Omit<Contribution, 'nonce' | 'expiry'> & { nonce: string; expiry: string };

/** Delegation as JSON: bigints as decimal strings. */
export type DelegationJson = Omit<Delegation, 'nonce' | 'expiry'> & { nonce: string; expiry: string };

/** Spot-check outcome of one contribution (coordinator/validator.ts). */
export type VerificationState = 'sampled' | 'skipped' | 'passed' | 'failed' | 'unverifiable';

export type ContributionState = 'pending' | 'accepted' | 'verified' | 'rejected' | 'batched' | 'claimable' | 'claimed';

export interface AccountSummary {
  address: Address;
  contributions: Record<ContributionState, number>;
  /** Credited so far, in token wei, as a decimal string. */
  creditWei: string;
  claimable?: { epoch: number; cumulativeWei: string; proof: Hex[] };
  claimedWei: string;
  /** Credit already placed in posted reward epochs (what the chain's cumulative leaf holds). */
  epochCreditWei: string;
  /** The wallet this device key currently delegates its credit to (EIP-712 Delegation), if any. */
  wallet?: Address | null;
  recent: {
    round: number;
    state: ContributionState;
    reason: string | null;
    samples: number;
    epoch: number | null;
    /** Who is credited: the delegated wallet at report time, else the device key. */
    beneficiary?: Address;
    verification?: VerificationState | null;
    /** The claim transaction that paid this contribution's epoch (state `claimed`). */
    claimTx?: Hex | null;
    /** What trained it (null for rows older than the column). */
    device?: DeviceKind | null;
    partner?: string | null;
    /** The contribution's ledger id: GET /api/contributions/:id gives its whole timeline. */
    id?: number;
  }[];
  /** Credited work per device kind (CPU work is counted apart; see README "CPU credit"). */
  byDevice?: Record<DeviceKind, { contributions: number; samples: number; creditWei: string }>;
}

/** GET /api/accounts/:address/reward-proof — the account's leaf in the latest posted epoch. */
export interface RewardProof {
  epoch: number;
  root: Hex;
  cumulativeWei: string;
  proof: Hex[];
}

export interface RoundSummary {
  round: number;
  modelHash: Hex;
  committedAt: number;
  heldOutAccuracy: number;
  heldOutLoss: number;
  trainLoss: number | null;
  contributions: number;
  samples: number;
  volunteers: number;
  updateBytes: number;
}

export interface EpochSummary {
  epoch: number;
  root: Hex;
  txHash: Hex;
  totalWei: string;
  accounts: number;
  round: number;
}

/** A run's lead-controlled state: only an active run starts rounds (coordinator/lead.ts). */
export type RunStatus = 'active' | 'paused' | 'stopped';

/** What the coordinator's spot-check validator is doing. */
export interface ValidatorStatus {
  /** What re-executes checks: 'dawn' (the WGSL kernels through Dawn) or 'cpu' (the fallback); null before the thread started. */
  executor: 'dawn' | 'cpu' | null;
  /** Dawn's adapter ("google swiftshader"), and why the CPU reference re-executes instead. */
  adapter: string | null;
  fallback: string | null;
  /** Checks queued or running now, and the most there have been at once. */
  backlog: number;
  peakBacklog: number;
  /** Re-executions finished (withheld evidence is not one), their mean and largest time, ms. */
  checks: number;
  meanMs: number | null;
  maxMs: number | null;
}

export interface DashboardState {
  run: { id: number; name: string; round: number; modelHash: Hex; paramCount: number; status?: RunStatus };
  volunteers: number;
  rounds: RoundSummary[];
  epochs: EpochSummary[];
  chain: ChainInfo;
  /** Spot checks so far: contributions per verification state (coordinator/validator.ts). */
  verification?: Partial<Record<VerificationState, number>>;
  /** The spot-check validator: what re-executes, its backlog and check times (coordinator/validator.ts). */
  validator?: ValidatorStatus;
  /** The lead dashboard's outcomes, leaderboard and flags (coordinator/dashboard.ts). */
  insights?: RunInsights;
  /** Credit earned through partner widgets, largest first. */
  partners?: PartnerSummary[];
  /** Identities caught misbehaving and refused contributions by reason (coordinator/flagged.ts). */
  flagged?: FlaggedSummary;
}

/** Refused contributions by reason code (the text before ':' in the ledger's reason), and the identities behind misbehaviour. */
export interface FlaggedSummary {
  rejections: Record<string, number>;
  identities: {
    account: Address;
    reputation: number;
    checksFailed: number;
    /** Contributions of this identity refused for its own conduct (failed checks, left out by the aggregator). */
    refused: number;
    /** Credit the ledger holds for it (accepted or later states), wei as a decimal string. */
    creditWei: string;
    lastReason: string | null;
  }[];
}

export type ClientMessage =
  | {
      type: 'hello'; protocol: number; address: Address; peerId: string; signature: Hex; adapter: AdapterInfo | null; gflops: number | null;
      /** The partner whose widget this session runs in (absent: none). */
      partner?: string | null;
      /** What trains this session's contributions (absent: not said, e.g. a connection that only delivers the outbox). */
      device?: DeviceKind | null;
    }
  | { type: 'start' }
  | { type: 'stop' }
  | {
      type: 'report';
      contribution: ContributionJson;
      signature: Hex;
      frameHashes: Hex[];
      /** What trained it and through which partner widget (not signed: credit attribution only). */
      device?: DeviceKind | null;
      partner?: string | null;
    }
  /** Bind a wallet: the wallet's EIP-712 Delegation for this session's device key. */
  | { type: 'bind'; delegation: DelegationJson; signature: Hex }
  | { type: 'subscribe'; topic: 'dashboard' };

export type ServerMessage =
  | { type: 'challenge'; challenge: string; serverTime: number }
  | { type: 'welcome'; run: RunSpec; round: number; modelHash: Hex; chain: ChainInfo; serverTime: number }
  | {
      type: 'round';
      run: number;
      round: number;
      modelHash: Hex;
      cohort: { id: number; members: { address: Address; peerId: string }[] };
      seed: number;
      steps: number;
      startsAt: number;
      exchangeEndsAt: number;
      reportEndsAt: number;
      serverTime: number;
    }
  | { type: 'committed'; run: number; round: number; modelHash: Hex; updateBytes: number; accepted: number; serverTime: number }
  | { type: 'ack'; nonce: string; state: ContributionState; reason: string | null }
  | { type: 'error'; code: ErrorCode; message: string; ref?: string }
  | { type: 'account'; summary: AccountSummary }
  | { type: 'dashboard'; state: DashboardState }
  /**
   * The validator sampled this member's contribution: upload the evidence (own frame bytes
   * followed by the committed residual, float32 LE) to
   * POST /api/runs/:run/rounds/:round/evidence/:address before `deadline` (server ms).
   */
  | { type: 'verify'; run: number; round: number; frameHash: Hex; deadline: number; serverTime: number };

/** The text a device key signs (EIP-191) to prove it owns `address` on this connection. */
export const helloMessage = (challenge: string, peerId: string) => `idlegrad hello\nchallenge: ${challenge}\npeer: ${peerId}`;

/** The text cohort members sign to prove their device key to each other over WebRTC. */
export const cohortHandshakeMessage = (run: number, round: number, peerId: string) => `idlegrad cohort\nrun: ${run}\nround: ${round}\npeer: ${peerId}`;

// ---- validation at the edge -------------------------------------------------------

function fail(path: string, expected: string, got: unknown): never {
  const shown = typeof got === 'string' && got.length > 40 ? `${got.slice(0, 40)}…` : JSON.stringify(got);
  throw new IdlegradError('BAD_MESSAGE', `${path}: expected ${expected}, got ${shown ?? String(got)}`);
}
const obj = (v: unknown, path: string): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(path, 'an object', v);
const str = (v: unknown, path: string, max = 256): string => (typeof v === 'string' && v.length <= max ? v : fail(path, `a string of at most ${max} chars`, v));
const u32 = (v: unknown, path: string): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : fail(path, 'a uint32', v));
const hex32 = (v: unknown, path: string): Hex => (typeof v === 'string' && isHex(v) && v.length === 66 ? (v.toLowerCase() as Hex) : fail(path, 'a 32-byte hex string', v));
const sig = (v: unknown, path: string): Hex => (typeof v === 'string' && isHex(v) && v.length === 132 ? (v as Hex) : fail(path, 'a 65-byte hex signature', v));
const addr = (v: unknown, path: string): Address => (typeof v === 'string' && isAddress(v, { strict: false }) ? (v.toLowerCase() as Address) : fail(path, 'an address', v));
const decimal = (v: unknown, path: string): string => (typeof v === 'string' && /^[0-9]{1,20}$/.test(v) && BigInt(v) < 2n ** 64n ? v : fail(path, 'a uint64 decimal string', v));

const deviceKind = (v: unknown, path: string): DeviceKind | null =>
  v === null || v === undefined ? null : DEVICE_KINDS.includes(v as DeviceKind) ? (v as DeviceKind) : fail(path, `one of ${DEVICE_KINDS.join(', ')}`, v);
const partnerId = (v: unknown, path: string): string | null =>
  v === null || v === undefined ? null : typeof v === 'string' && PARTNER_ID.test(v) ? v : fail(path, 'a partner id (letters, digits, . _ -; at most 64)', v);

export function parseContribution(v: unknown, path = 'contribution'): ContributionJson {
  const o = obj(v, path);
  return {
    run: u32(o.run, `${path}.run`),
    round: u32(o.round, `${path}.round`),
    cohort: u32(o.cohort, `${path}.cohort`),
    frameHash: hex32(o.frameHash, `${path}.frameHash`),
    aggregateHash: hex32(o.aggregateHash, `${path}.aggregateHash`),
    framesRoot: hex32(o.framesRoot, `${path}.framesRoot`),
    residualHash: hex32(o.residualHash, `${path}.residualHash`),
    samples: u32(o.samples, `${path}.samples`),
    steps: u32(o.steps, `${path}.steps`),
    lossBeforeMicro: u32(o.lossBeforeMicro, `${path}.lossBeforeMicro`),
    lossAfterMicro: u32(o.lossAfterMicro, `${path}.lossAfterMicro`),
    computeMs: u32(o.computeMs, `${path}.computeMs`),
    nonce: decimal(o.nonce, `${path}.nonce`),
    expiry: decimal(o.expiry, `${path}.expiry`),
  };
}

export function parseDelegation(v: unknown, path = 'delegation'): DelegationJson {
  const o = obj(v, path);
  return { wallet: addr(o.wallet, `${path}.wallet`), device: addr(o.device, `${path}.device`), nonce: decimal(o.nonce, `${path}.nonce`), expiry: decimal(o.expiry, `${path}.expiry`) };
}
export const delegationFromJson = (d: DelegationJson): Delegation => ({ ...d, nonce: BigInt(d.nonce), expiry: BigInt(d.expiry) });
export const delegationToJson = (d: Delegation): DelegationJson => ({ ...d, nonce: d.nonce.toString(), expiry: d.expiry.toString() });

export const contributionFromJson = (c: ContributionJson): Contribution => ({ ...c, nonce: BigInt(c.nonce), expiry: BigInt(c.expiry) });
export const contributionToJson = (c: Contribution): ContributionJson => ({ ...c, nonce: c.nonce.toString(), expiry: c.expiry.toString() });

/** Parse an untrusted client message (already JSON-decoded). Throws IdlegradError('BAD_MESSAGE'). */
export function parseClientMessage(raw: unknown): ClientMessage {
  const o = obj(raw, 'message');
  switch (o.type) {
    case 'hello': {
      const a = o.adapter === null || o.adapter === undefined ? null : obj(o.adapter, 'hello.adapter');
      return {
        type: 'hello',
        protocol: u32(o.protocol, 'hello.protocol'),
        address: addr(o.address, 'hello.address'),
        peerId: str(o.peerId, 'hello.peerId', 64),
        signature: sig(o.signature, 'hello.signature'),
        adapter: a ? { vendor: str(a.vendor, 'hello.adapter.vendor'), architecture: str(a.architecture, 'hello.adapter.architecture'), description: str(a.description, 'hello.adapter.description') } : null,
        gflops: o.gflops === null || o.gflops === undefined ? null : typeof o.gflops === 'number' && Number.isFinite(o.gflops) && o.gflops >= 0 ? o.gflops : fail('hello.gflops', 'a non-negative number', o.gflops),
        partner: partnerId(o.partner, 'hello.partner'),
        device: deviceKind(o.device, 'hello.device'),
      };
    }
    case 'start':
    case 'stop':
      return { type: o.type };
    case 'report': {
      if (!Array.isArray(o.frameHashes) || o.frameHashes.length > 256) fail('report.frameHashes', 'an array of at most 256 hashes', o.frameHashes);
      return {
        type: 'report',
        contribution: parseContribution(o.contribution, 'report.contribution'),
        signature: sig(o.signature, 'report.signature'),
        frameHashes: (o.frameHashes as unknown[]).map((h, i) => hex32(h, `report.frameHashes[${i}]`)),
        device: deviceKind(o.device, 'report.device'),
        partner: partnerId(o.partner, 'report.partner'),
      };
    }
    case 'bind':
      return { type: 'bind', delegation: parseDelegation(o.delegation, 'bind.delegation'), signature: sig(o.signature, 'bind.signature') };
    case 'subscribe':
      if (o.topic !== 'dashboard') fail('subscribe.topic', '"dashboard"', o.topic);
      return { type: 'subscribe', topic: 'dashboard' };
    default:
      return fail('message.type', 'one of hello, start, stop, report, bind, subscribe', o.type);
  }
}

/** Server messages come from a trusted coordinator; the browser still checks the tag. */
export function parseServerMessage(raw: unknown): ServerMessage {
  const o = obj(raw, 'message');
  const known = ['challenge', 'welcome', 'round', 'committed', 'ack', 'error', 'account', 'dashboard', 'verify'];
  if (typeof o.type !== 'string' || !known.includes(o.type)) fail('message.type', known.join(', '), o.type);
  return o as unknown as ServerMessage;
}
