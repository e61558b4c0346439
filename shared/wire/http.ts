// The coordinator's HTTP replies (coordinator/server.ts, coordinator/lead.ts), each declared
// once with its parser. The page (web/src/client/api.ts), the dashboard, the lead panel and the
// e2e clients parse every JSON reply with these: a reply that does not parse is an
// IdlegradError('BAD_MESSAGE') naming the keypath, never a cast. The same DTOs ride in the
// WebSocket messages (messages.ts): `account`, `dashboard`, `welcome`.
import type { Address, Hex } from 'viem';
import { modelOf, PRESETS, validateRunSettings, type Preset, type RunSettings, type RunSpec } from '../config.ts';
import { paramTableHash } from '../model.ts';
import { MODEL_HASH_SCHEMES } from '../model-hash.ts';
import { deviceNeeds } from '../device-needs.ts';
import { ERROR_CODES, IdlegradError, type ErrorCode } from '../errors.ts';
import { REJECTION_CODES, type RejectionCode } from './rejections.ts';
import {
  addr,
  arrayOf,
  bool,
  decimal,
  fail,
  hex32,
  nonNegative,
  nullable,
  num,
  obj,
  oneOf,
  optional,
  recordOf,
  shape,
  str,
  u32,
  wei,
  type Parser,
} from './parse.ts';

// ---- values shared by several replies ------------------------------------------------

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

/** Spot-check outcome of one contribution (coordinator/validator.ts). */
export type VerificationState = 'sampled' | 'skipped' | 'passed' | 'failed' | 'unverifiable';
export const VERIFICATION_STATES: readonly VerificationState[] = ['sampled', 'skipped', 'passed', 'failed', 'unverifiable'];

export type ContributionState = 'pending' | 'accepted' | 'verified' | 'rejected' | 'batched' | 'claimable' | 'claimed';
export const CONTRIBUTION_STATES: readonly ContributionState[] = ['pending', 'accepted', 'verified', 'rejected', 'batched', 'claimable', 'claimed'];

/** A run's lead-controlled state: only an active run starts rounds (coordinator/lead.ts). */
export type RunStatus = 'active' | 'paused' | 'stopped';
export const RUN_STATUSES: readonly RunStatus[] = ['active', 'paused', 'stopped'];

export interface ChainInfo {
  chainId: number;
  distributor: Address;
  token: Address;
  /** JSON-RPC endpoint reachable from the browser (the coordinator proxies one at /rpc). */
  rpcUrl: string;
  /** WalletConnect for volunteers without an injected wallet: absent when no project id is configured. */
  walletConnect?: { projectId: string; relayUrl: string };
  /** The chain's name, as a wallet asked to add it shows it (absent: "chain <id>"). */
  chainName?: string;
  /** A block explorer (Etherscan/Blockscout paths: /tx/<hash>, /address/<address>, /token/<address>); absent: no links. */
  explorerUrl?: string;
}

export const deviceKind: Parser<DeviceKind | null> = nullable(oneOf(DEVICE_KINDS));
export const partnerId: Parser<string | null> = nullable((v, path) =>
  typeof v === 'string' && PARTNER_ID.test(v) ? v : fail(path, 'a partner id (letters, digits, . _ -; at most 64)', v),
);
const rejectionCode: Parser<RejectionCode | null> = nullable(oneOf(REJECTION_CODES));
const contributionState = oneOf(CONTRIBUTION_STATES);
const verificationState = nullable(oneOf(VERIFICATION_STATES));
const url: Parser<string> = str(2048);

export const parseAdapterInfo: Parser<AdapterInfo> = shape<AdapterInfo>({ vendor: str(), architecture: str(), description: str() });

export const parseChainInfo: Parser<ChainInfo> = shape<ChainInfo>({
  chainId: u32,
  distributor: addr,
  token: addr,
  rpcUrl: url,
  walletConnect: optional(shape<{ projectId: string; relayUrl: string }>({ projectId: str(64), relayUrl: url })),
  chainName: optional(str(64)),
  explorerUrl: optional((v, path) => (typeof v === 'string' && /^https?:\/\/[^\s]{1,2000}$/.test(v) ? v : fail(path, 'an http(s) URL', v))),
});

/**
 * A run spec from the coordinator: its shape, its settings' ranges (validateRunSettings, the
 * keypath under `path`), and a parameter table that is the model's own. The settings object is
 * returned as sent (every field has been checked).
 */
export const parseRunSpec: Parser<RunSpec> = (v, path) => {
  const o = obj(v, path);
  shape<Pick<RunSpec, 'id' | 'name' | 'seed' | 'paramTableHash' | 'paramCount' | 'modelHashScheme' | 'dataset'>>({
    id: u32,
    name: str(64),
    seed: u32,
    paramTableHash: hex32,
    paramCount: u32,
    modelHashScheme: optional(oneOf(MODEL_HASH_SCHEMES)),
    dataset: shape<RunSpec['dataset']>({
      name: oneOf(['mnist', 'text'] as const),
      text: optional(str(64)),
      trainCount: u32,
      testCount: u32,
      features: u32,
      classes: u32,
    }),
  })(o, path);
  shape<RunSettings['inner']['adamw']>({
    lr: num,
    beta1: num,
    beta2: num,
    eps: num,
    weightDecay: num,
    maxGradNorm: optional(nonNegative),
    warmupSteps: optional(nonNegative),
    primeSteps: optional(nonNegative),
  })(obj(obj(o.inner, `${path}.inner`).adamw, `${path}.inner.adamw`), `${path}.inner.adamw`);
  if (o.verification !== undefined) obj(o.verification, `${path}.verification`);
  try {
    validateRunSettings(o as unknown as RunSettings, path);
  } catch (e) {
    throw new IdlegradError('BAD_MESSAGE', (e as Error).message);
  }
  const spec = modelOf(o as unknown as RunSettings);
  if (paramTableHash(spec) !== o.paramTableHash || spec.paramCount !== o.paramCount) {
    fail(`${path}.paramTableHash`, `the table of its own model (${paramTableHash(spec)}, ${spec.paramCount} parameters)`, o.paramTableHash);
  }
  // What a device needs is computed from the model and batch: a spec that says otherwise is refused.
  if (o.needs !== undefined) {
    const needs = obj(o.needs, `${path}.needs`);
    const want = deviceNeeds(spec, (o as unknown as RunSpec).inner, o.dataset as RunSpec['dataset']);
    for (const [k, v] of Object.entries(want))
      if (JSON.stringify(needs[k]) !== JSON.stringify(v)) fail(`${path}.needs.${k}`, `${JSON.stringify(v)} (computed from its model and batch)`, needs[k]);
  }
  return o as unknown as RunSpec;
};

// ---- GET /api/run, /api/health -------------------------------------------------------

/** GET /api/run: the run being trained, its round and model hash, and the chain. */
export interface RunInfo {
  run: RunSpec;
  round: number;
  modelHash: Hex;
  chain: ChainInfo;
}
export const parseRunInfo: Parser<RunInfo> = shape<RunInfo>({ run: parseRunSpec, round: u32, modelHash: hex32, chain: parseChainInfo });

export interface Health {
  ok: boolean;
  round: number;
}
export const parseHealth: Parser<Health> = shape<Health>({ ok: bool, round: u32 });

// ---- accounts -----------------------------------------------------------------------

export interface AccountRow {
  round: number;
  state: ContributionState;
  /** Why it was refused (state `rejected`; null for rows older than the code column whose reason did not parse). */
  code: RejectionCode | null;
  /** The refusal's prose, with its figures. */
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
}

export interface DeviceCredit {
  contributions: number;
  samples: number;
  creditWei: string;
}

/** GET /api/accounts/:address, and the `account` push. */
export interface AccountSummary {
  address: Address;
  contributions: Record<ContributionState, number>;
  /** Credited so far, in token wei, as a decimal string. */
  creditWei: string;
  claimable?: { epoch: number; cumulativeWei: string; proof: Hex[] };
  claimedWei: string;
  /** Credit already placed in posted reward epochs (what the chain's cumulative leaf holds). */
  epochCreditWei: string;
  /** Credit accepted but not yet vested (coordinator/verify/settings.ts: round + W committed and a later check passed, or round + 2W). */
  vestingWei?: string;
  /** Vested credit that waits for the next reward epoch. */
  vestedWei?: string;
  /** The wallet this device key currently delegates its credit to (EIP-712 Delegation), if any. */
  wallet?: Address | null;
  recent: AccountRow[];
  /** Credited work per device kind (CPU work is counted apart; see README "CPU credit"). */
  byDevice?: Record<DeviceKind, DeviceCredit>;
}

const parseDeviceCredit = shape<DeviceCredit>({ contributions: u32, samples: u32, creditWei: wei });
const parseAccountRow = shape<AccountRow>({
  round: u32,
  state: contributionState,
  code: rejectionCode,
  reason: nullable(str(2000)),
  samples: u32,
  epoch: nullable(u32),
  beneficiary: optional(addr),
  verification: optional(verificationState),
  claimTx: optional(nullable(hex32)),
  device: optional(deviceKind),
  partner: optional(partnerId),
  id: optional(u32),
});
const proofPath = arrayOf(hex32, 256);

export const parseAccountSummary: Parser<AccountSummary> = shape<AccountSummary>({
  address: addr,
  contributions: recordOf(CONTRIBUTION_STATES, u32, true),
  creditWei: wei,
  claimable: optional(shape<NonNullable<AccountSummary['claimable']>>({ epoch: u32, cumulativeWei: wei, proof: proofPath })),
  claimedWei: wei,
  epochCreditWei: wei,
  vestingWei: optional(wei),
  vestedWei: optional(wei),
  wallet: optional(nullable(addr)),
  recent: arrayOf(parseAccountRow, 100),
  byDevice: optional(recordOf(DEVICE_KINDS, parseDeviceCredit, true)),
});

/** GET /api/accounts/:address/reward-proof — the account's leaf in the latest posted epoch. */
export interface RewardProof {
  epoch: number;
  root: Hex;
  cumulativeWei: string;
  proof: Hex[];
}
export const parseRewardProof: Parser<RewardProof> = shape<RewardProof>({ epoch: u32, root: hex32, cumulativeWei: wei, proof: proofPath });

/** POST /api/faucet. */
export interface FaucetReply {
  txHash: Hex;
}
export const parseFaucetReply: Parser<FaucetReply> = shape<FaucetReply>({ txHash: hex32 });

/** POST /api/accounts/:address/claimed: the cumulative amount the claim's event paid up to. */
export interface ClaimedReply {
  cumulativeWei: string;
}
export const parseClaimedReply: Parser<ClaimedReply> = shape<ClaimedReply>({ cumulativeWei: wei });

// ---- contributions ------------------------------------------------------------------

export type TimelineStep = 'pending' | 'accepted' | 'verified' | 'rejected' | 'batched' | 'claimable' | 'claimed';
export const TIMELINE_STEPS: readonly TimelineStep[] = ['pending', 'accepted', 'verified', 'rejected', 'batched', 'claimable', 'claimed'];

export interface TimelineEntry {
  step: TimelineStep;
  /** 'done': passed; 'current': where it is now; 'todo': still ahead; 'failed': ended here. */
  status: 'done' | 'current' | 'todo' | 'failed';
  /** The step's evidence: the rejection code and prose, the epoch, the claim tx, the verification outcome. */
  detail: string | null;
}

/** A spot check's figures once it ended (coordinator/validator.ts CheckDetail). */
export interface CheckFigures {
  executor?: 'dawn' | 'cpu';
  relDelta?: number;
  relFrame?: number;
  lossGain?: number;
  ms: number;
  recheck?: { first: number; dawn: number; cpu: number };
}

/** A contribution's ledger row as its timeline shows it (coordinator/db/ledger.ts). */
export interface ContributionRecord {
  id: number;
  run: number;
  round: number;
  account: Address;
  beneficiary: Address;
  state: ContributionState;
  code: RejectionCode | null;
  reason: string | null;
  samples: number;
  creditWei: string;
  epoch: number | null;
  epochRoot: Hex | null;
  epochTx: Hex | null;
  claimTx: Hex | null;
  verification: VerificationState | null;
  check: CheckFigures | null;
  device: DeviceKind | null;
  partner: string | null;
  nonce: string;
}

/** GET /api/contributions/:id: the row, its timeline, and its proof while it is claimable. */
export interface ContributionDetail extends ContributionRecord {
  timeline: TimelineEntry[];
  proof: RewardProof | null;
}

const parseCheckFigures = shape<CheckFigures>({
  executor: optional(oneOf(['dawn', 'cpu'] as const)),
  relDelta: optional(num),
  relFrame: optional(num),
  lossGain: optional(num),
  ms: nonNegative,
  recheck: optional(shape<{ first: number; dawn: number; cpu: number }>({ first: num, dawn: num, cpu: num })),
});
export const parseTimelineEntry: Parser<TimelineEntry> = shape<TimelineEntry>({
  step: oneOf(TIMELINE_STEPS),
  status: oneOf(['done', 'current', 'todo', 'failed'] as const),
  detail: nullable(str(2000)),
});

export const parseContributionDetail: Parser<ContributionDetail> = shape<ContributionDetail>({
  id: u32,
  run: u32,
  round: u32,
  account: addr,
  beneficiary: addr,
  state: contributionState,
  code: rejectionCode,
  reason: nullable(str(2000)),
  samples: u32,
  creditWei: wei,
  epoch: nullable(u32),
  epochRoot: nullable(hex32),
  epochTx: nullable(hex32),
  claimTx: nullable(hex32),
  verification: verificationState,
  check: nullable(parseCheckFigures),
  device: deviceKind,
  partner: partnerId,
  nonce: decimal,
  timeline: arrayOf(parseTimelineEntry, 16),
  proof: nullable(parseRewardProof),
});

/** GET /api/partners: credit earned through each partner's widget (credited states only). */
export interface PartnerSummary {
  partner: string;
  volunteers: number;
  contributions: number;
  samples: number;
  creditWei: string;
}
export interface PartnersReply {
  run: number;
  partners: PartnerSummary[];
}
const parsePartnerSummary = shape<PartnerSummary>({
  partner: (v, path) => partnerId(v, path) ?? fail(path, 'a partner id', v),
  volunteers: u32,
  contributions: u32,
  samples: u32,
  creditWei: wei,
});
export const parsePartnersReply: Parser<PartnersReply> = shape<PartnersReply>({ run: u32, partners: arrayOf(parsePartnerSummary, 1000) });

// ---- GET /api/runs/:run/sync: content-addressed updates and snapshots (issue 16) ----------

/** A published object, named by the sha256 of its bytes (the last segment of its immutable URL). */
export interface PublishedObject {
  hash: Hex;
  bytes: number;
}

/** The most updates a sync index lists: a page further behind loads the snapshot. */
export const MAX_SYNC_UPDATES = 256;

/**
 * GET /api/runs/:run/sync?from=R: what takes a page at round R to the current round, by either
 * path, with each object's size so that the page fetches whichever is fewer bytes. The objects
 * themselves are immutable (/api/runs/:run/updates/:round/:hash, /api/runs/:run/snapshots/:hash).
 */
export interface SyncIndex {
  run: number;
  round: number;
  modelHash: Hex;
  /**
   * The global updates of rounds from … round − 1 in order (`hash` null: nothing was accepted that
   * round, the model carried over); null when from > round or more than MAX_SYNC_UPDATES are needed.
   */
  updates: { round: number; hash: Hex | null; bytes: number }[] | null;
  /** θ_round and the outer momentum (shared/wire/snapshot.ts). */
  snapshot: PublishedObject;
}
export const parseSyncIndex: Parser<SyncIndex> = shape<SyncIndex>({
  run: u32,
  round: u32,
  modelHash: hex32,
  updates: nullable(arrayOf(shape<NonNullable<SyncIndex['updates']>[number]>({ round: u32, hash: nullable(hex32), bytes: u32 }), MAX_SYNC_UPDATES)),
  snapshot: shape<PublishedObject>({ hash: hex32, bytes: u32 }),
});

/** POST /api/runs/:run/rounds/:round/aggregate. */
export interface AggregateReply {
  aggregateHash: Hex;
}
export const parseAggregateReply: Parser<AggregateReply> = shape<AggregateReply>({ aggregateHash: hex32 });

/** POST /api/runs/:run/rounds/:round/evidence/:address, GET /api/lead/session. */
export interface OkReply {
  ok: true;
}
export const parseOkReply: Parser<OkReply> = shape<OkReply>({ ok: (v, path) => (v === true ? true : fail(path, 'true', v)) });

// ---- the dashboard ------------------------------------------------------------------

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

/** Reward epoch posting (coordinator/epoch-poster.ts): failing while the last attempt failed and a retry is scheduled. */
export interface EpochPostingStatus {
  failing: boolean;
  /** Failed attempts in a row. */
  attempts: number;
  lastError: string | null;
  /** Unix ms. */
  lastErrorAt: number | null;
  nextRetryAt: number | null;
}

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

export interface RoundOutcome {
  round: number;
  /** Reports received (rows in the ledger) for the round. */
  reports: number;
  accepted: number;
  rejected: number;
  /** Spot checks of the round's contributions: sampled-and-passed, failed, still open. */
  verified: number;
  failed: number;
  sampled: number;
  /** Cohorts that reported (distinct cohort ids among the round's reports). */
  cohorts: number;
  /** Seated volunteers that never reported: volunteers − reports. */
  stragglers: number;
  /** Distinct rejection codes of the round's refused reports (from the ledger's code column). */
  codes: RejectionCode[];
}

export interface LeaderRow {
  account: Address;
  contributions: number;
  samples: number;
  /** Credit of accepted work, wei as a decimal string. */
  creditWei: string;
}

/** What the lead's dashboard adds to DashboardState (coordinator/dashboard.ts). */
export interface RunInsights {
  /** Bytes of one dense float32 update: paramCount × 4. */
  denseBytes: number;
  /** Training FLOPs per sample: 6 × multiply-adds of the forward pass (forward 2, backward 4). */
  flopsPerSample: number;
  outcomes: RoundOutcome[];
  leaderboard: LeaderRow[];
}

/** Refused contributions by code, and the identities behind misbehaviour (coordinator/flagged.ts). */
export interface FlaggedSummary {
  rejections: Partial<Record<RejectionCode, number>>;
  /** Refused rows older than the code column whose reason did not parse. */
  uncoded: number;
  identities: {
    account: Address;
    reputation: number;
    checksFailed: number;
    /** Contributions of this identity refused for its own conduct (failed checks, left out by the aggregator). */
    refused: number;
    /** Credit the ledger holds for it (accepted or later states), wei as a decimal string. */
    creditWei: string;
    /** Its latest refusal: the code, and the prose. */
    lastCode: RejectionCode | null;
    lastReason: string | null;
  }[];
}

/** GET /api/dashboard, and the `dashboard` push. */
export interface DashboardState {
  /** `preset`: which model (a GPT's held-out loss is in nats per byte). */
  run: { id: number; name: string; round: number; modelHash: Hex; paramCount: number; status?: RunStatus; preset?: Preset };
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
  /** Identities caught misbehaving and refused contributions by code (coordinator/flagged.ts). */
  flagged?: FlaggedSummary;
  /** Whether reward epochs are being posted, or failing and retried (coordinator/epoch-poster.ts). */
  epochPosting?: EpochPostingStatus;
}

const count = u32;
const ms = nullable(nonNegative);
export const parseRoundSummary: Parser<RoundSummary> = shape<RoundSummary>({
  round: u32,
  modelHash: hex32,
  committedAt: nonNegative,
  heldOutAccuracy: num,
  heldOutLoss: num,
  trainLoss: nullable(num),
  contributions: count,
  samples: count,
  volunteers: count,
  updateBytes: count,
});
const parseEpochSummary = shape<EpochSummary>({ epoch: u32, root: hex32, txHash: hex32, totalWei: wei, accounts: count, round: u32 });
const parseEpochPostingStatus = shape<EpochPostingStatus>({ failing: bool, attempts: count, lastError: nullable(str(2000)), lastErrorAt: ms, nextRetryAt: ms });
const parseValidatorStatus = shape<ValidatorStatus>({
  executor: nullable(oneOf(['dawn', 'cpu'] as const)),
  adapter: nullable(str()),
  fallback: nullable(str(2000)),
  backlog: count,
  peakBacklog: count,
  checks: count,
  meanMs: ms,
  maxMs: ms,
});
const parseRunInsights = shape<RunInsights>({
  denseBytes: count,
  flopsPerSample: nonNegative,
  outcomes: arrayOf(
    shape<RoundOutcome>({
      round: u32,
      reports: count,
      accepted: count,
      rejected: count,
      verified: count,
      failed: count,
      sampled: count,
      cohorts: count,
      stragglers: count,
      codes: arrayOf(oneOf(REJECTION_CODES), REJECTION_CODES.length),
    }),
  ),
  leaderboard: arrayOf(shape<LeaderRow>({ account: addr, contributions: count, samples: count, creditWei: wei }), 1000),
});
const parseFlaggedSummary = shape<FlaggedSummary>({
  rejections: recordOf(REJECTION_CODES, count),
  uncoded: count,
  identities: arrayOf(
    shape<FlaggedSummary['identities'][number]>({
      account: addr,
      reputation: num,
      checksFailed: count,
      refused: count,
      creditWei: wei,
      lastCode: rejectionCode,
      lastReason: nullable(str(2000)),
    }),
    1000,
  ),
});

export const parseDashboardState: Parser<DashboardState> = shape<DashboardState>({
  run: shape<DashboardState['run']>({
    id: u32,
    name: str(64),
    round: u32,
    modelHash: hex32,
    paramCount: u32,
    status: optional(oneOf(RUN_STATUSES)),
    preset: optional(oneOf(PRESETS)),
  }),
  volunteers: count,
  rounds: arrayOf(parseRoundSummary),
  epochs: arrayOf(parseEpochSummary),
  chain: parseChainInfo,
  verification: optional(recordOf(VERIFICATION_STATES, count)),
  validator: optional(parseValidatorStatus),
  insights: optional(parseRunInsights),
  partners: optional(arrayOf(parsePartnerSummary, 1000)),
  flagged: optional(parseFlaggedSummary),
  epochPosting: optional(parseEpochPostingStatus),
});

// ---- the lead's routes (coordinator/lead.ts) ------------------------------------------

export interface LeadSession {
  ok: true;
  run: { id: number; name: string; status: RunStatus };
}
export const parseLeadSession: Parser<LeadSession> = shape<LeadSession>({
  ok: (v, path) => (v === true ? true : fail(path, 'true', v)),
  run: shape<LeadSession['run']>({ id: u32, name: str(64), status: oneOf(RUN_STATUSES) }),
});

/** POST /api/lead/texts: the uploaded text's id (its sha256) and length. */
export interface TextUploaded {
  text: { id: string; bytes: number };
}
export const parseTextUploaded: Parser<TextUploaded> = shape<TextUploaded>({
  text: shape<TextUploaded['text']>({ id: (v, path) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : fail(path, '64 hex digits', v)), bytes: u32 }),
});

/** POST /api/lead/runs. */
export interface RunCreated {
  run: { id: number; name: string; paramCount: number };
}
export const parseRunCreated: Parser<RunCreated> = shape<RunCreated>({ run: shape<RunCreated['run']>({ id: u32, name: str(64), paramCount: u32 }) });

/** POST /api/lead/runs/:id/:action. */
export interface RunStatusChanged {
  run: { id: number; status: RunStatus };
}
export const parseRunStatusChanged: Parser<RunStatusChanged> = shape<RunStatusChanged>({
  run: shape<RunStatusChanged['run']>({ id: u32, status: oneOf(RUN_STATUSES) }),
});

// ---- errors -------------------------------------------------------------------------

/** Every 4xx/5xx answer: { error: { code, message } }. */
export interface ErrorReply {
  error: { code: ErrorCode; message: string };
}
export const parseErrorReply: Parser<ErrorReply> = shape<ErrorReply>({ error: shape<ErrorReply['error']>({ code: oneOf(ERROR_CODES), message: str(4000) }) });
