// Messages between the browser and the coordinator over the WebSocket (JSON), declared once.
// Both sides parse what they receive with the functions below (every field checked, the
// keypath named when one is wrong) and switch on `type` exhaustively.
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../config.ts';
import type { Contribution, Delegation } from '../eip712.ts';
import { ERROR_CODES, IdlegradError, type ErrorCode } from '../errors.ts';
import {
  CONTRIBUTION_STATES,
  deviceKind,
  parseAccountSummary,
  parseAdapterInfo,
  parseChainInfo,
  parseDashboardState,
  parseRunSpec,
  partnerId,
  PARTNER_ID,
  type AccountSummary,
  type AdapterInfo,
  type ChainInfo,
  type ContributionState,
  type DashboardState,
  type DeviceKind,
} from './http.ts';
import { parseSessionGrant, type SessionGrant } from '../session-key.ts';
import { addr, arrayOf, bool, decimal, edSig, fail, hex32, nonNegative, nullable, obj, oneOf, optional, shape, sig, str, u32, type Parser } from './parse.ts';
import { parseIceGrant, type IceGrant } from './ice.ts';
import type { RelayedFrameMessage, RelayMessage } from './relay.ts';
import { MAX_ASKED_LEAVES, type EvidenceNeeds } from './evidence.ts';

/**
 * 2: the partner id is inside the signed Contribution (issue 14). A report signed under 1 has
 * no `partner` field and is refused with SCHEMA_MISMATCH naming the version.
 * 3: the in-cohort aggregate drops a member frame that opposes the others' directions in a
 * cohort of 3 or 4 (shared/round.ts cohortAggregator, issue 15): a page of protocol 2 would
 * compute other bytes for such a cohort, so its hello is refused naming the version.
 * 4: the model hash follows the run spec's `modelHashScheme` (shared/model-hash.ts; new runs
 * hash θ in 1 MiB sha256 chunks): a page of protocol 3 would hash every θ with keccak, disagree
 * with every commit and download snapshot after snapshot, so its hello is refused instead.
 * 5: the residual commitment is over Merkle roots of the residuals, and a `verify` names the
 * leaves to open (shared/wire/evidence.ts, issue 16): a page of an earlier protocol would commit
 * and upload what this validator cannot check.
 * 6: reports are signed by an Ed25519 session key the device key certifies at hello
 * (shared/session-key.ts, issue 17): the challenge names what to certify, the hello carries the
 * certificate, and a report's `signature` is the session key's (64 bytes). A page of protocol 5
 * signs reports with the device key, which this coordinator no longer accepts: its hello is
 * refused naming the version.
 * 7: a run may keep each page's inner AdamW state across rounds (run setting inner.state 'kept', the
 * MLP's default, issue 15): the report's residualHash then also commits to the state before and after
 * the round, and the evidence upload carries the state before in full (shared/wire/inner-state.ts).
 * A page of protocol 6 would train every round from zero moments and commit to the residuals alone,
 * so every spot check of its work would fail: its hello is refused naming the version.
 */
export const PROTOCOL_VERSION = 7;

/** Contribution as JSON: bigints as decimal strings. */
export type ContributionJson = Omit<Contribution, 'nonce' | 'expiry'> & { nonce: string; expiry: string };

/** Delegation as JSON: bigints as decimal strings. */
export type DelegationJson = Omit<Delegation, 'nonce' | 'expiry'> & { nonce: string; expiry: string };

export type ClientMessage =
  | {
      type: 'hello';
      protocol: number;
      address: Address;
      peerId: string;
      signature: Hex;
      adapter: AdapterInfo | null;
      gflops: number | null;
      /** The partner whose widget this session runs in (absent: none). */
      partner?: string | null;
      /** What trains this session's contributions (absent: not said, e.g. a connection that only delivers the outbox). */
      device?: DeviceKind | null;
      /** The session key every report of this connection is signed by, certified by `address` (shared/session-key.ts). */
      session: SessionGrant;
    }
  | { type: 'start' }
  | { type: 'stop' }
  | {
      type: 'report';
      contribution: ContributionJson;
      /** The session key's Ed25519 signature (64 bytes) over reportSigningBytes(certificate digest, Contribution digest). */
      signature: Hex;
      frameHashes: Hex[];
      /** What trained it (not signed: a statistic). The partner it came through is signed, in `contribution.partner`. */
      device?: DeviceKind | null;
    }
  /**
   * Relay (issue 16): this member's own update frame for the cohort members it could not
   * exchange with over WebRTC; the coordinator forwards it to them as `relayed-frame` and keeps
   * nothing past that. A binary WebSocket message (shared/wire/relay.ts), never JSON.
   */
  | RelayMessage
  /**
   * Agreement: the designated uploader names the frames (by hash) inside the aggregate it
   * uploaded; the coordinator forwards the first announcement per cohort as `announced`.
   */
  | { type: 'announce'; round: number; aggregateHash: Hex; frameHashes: Hex[] }
  /** Bind a wallet: the wallet's EIP-712 Delegation for this session's device key. */
  | { type: 'bind'; delegation: DelegationJson; signature: Hex }
  | { type: 'subscribe'; topic: 'dashboard' };

export interface CohortSeat {
  id: number;
  members: { address: Address; peerId: string }[];
}

export type ServerMessage =
  /** `session`: what the hello's session certificate must name (the run, and the EIP-712 domain it is signed under). */
  | { type: 'challenge'; challenge: string; serverTime: number; session: { run: number; chainId: number; distributor: Address } }
  /** `ice`: the ICE servers (STUN, TURN with short-lived credentials) for every RTCPeerConnection; absent: none. */
  | { type: 'welcome'; run: RunSpec; round: number; modelHash: Hex; chain: ChainInfo; serverTime: number; ice?: IceGrant }
  /** Fresh TURN credentials, sent before the last grant's expire (coordinator/ice.ts). */
  | { type: 'ice'; ice: IceGrant; serverTime: number }
  | {
      type: 'round';
      run: number;
      round: number;
      modelHash: Hex;
      cohort: CohortSeat;
      seed: number;
      steps: number;
      startsAt: number;
      exchangeEndsAt: number;
      reportEndsAt: number;
      serverTime: number;
    }
  /** `updateHash`: the content address of the round's global update (GET /api/runs/:run/updates/:round/:hash); null: none published. */
  | { type: 'committed'; run: number; round: number; modelHash: Hex; updateBytes: number; updateHash: Hex | null; accepted: number; serverTime: number }
  /** A cohort member's own frame, relayed because this page had no WebRTC path to it (binary: shared/wire/relay.ts). */
  | RelayedFrameMessage
  /** The cohort's agreed frame set: sign `aggregateHash` only when holding exactly these frames and computing the same hash. */
  | { type: 'announced'; round: number; cohort: number; from: Address; aggregateHash: Hex; frameHashes: Hex[] }
  | { type: 'ack'; nonce: string; state: ContributionState; reason: string | null }
  | { type: 'error'; code: ErrorCode; message: string; ref?: string }
  | { type: 'account'; summary: AccountSummary }
  | { type: 'dashboard'; state: DashboardState }
  /**
   * The validator sampled this member's contribution: upload the evidence (shared/wire/evidence.ts:
   * own frame bytes, and each residual in full where `needs` says so, else its digest) to
   * POST /api/runs/:run/rounds/:round/evidence/:address before `deadline` (server ms). A
   * validator may ask again for the same round with other `needs`: the page keeps the
   * evidence of a round it was asked for a while longer.
   */
  | { type: 'verify'; run: number; round: number; frameHash: Hex; needs: EvidenceNeeds; deadline: number; serverTime: number };

/** The text a device key signs (EIP-191) to prove it owns `address` on this connection. */
export const helloMessage = (challenge: string, peerId: string) => `idlegrad hello\nchallenge: ${challenge}\npeer: ${peerId}`;

/** A signed partner id: '' for none, else a partner id (shared/wire/http.ts PARTNER_ID). */
const signedPartner: Parser<string> = (v, path) =>
  v === '' || (typeof v === 'string' && PARTNER_ID.test(v)) ? v : fail(path, "'' or a partner id (letters, digits, . _ -; at most 64)", v);

const CONTRIBUTION_V1_FIELDS = {
  run: u32,
  round: u32,
  cohort: u32,
  frameHash: hex32,
  aggregateHash: hex32,
  framesRoot: hex32,
  residualHash: hex32,
  samples: u32,
  steps: u32,
  lossBeforeMicro: u32,
  lossAfterMicro: u32,
  computeMs: u32,
  nonce: decimal,
  expiry: decimal,
};

export function parseContribution(v: unknown, path = 'contribution'): ContributionJson {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && !Object.hasOwn(v, 'partner')) {
    // A well-formed report of protocol 1 (no partner in its signature) is refused by version;
    // anything else malformed is refused by the field that is wrong.
    shape<Omit<ContributionJson, 'partner'>>(CONTRIBUTION_V1_FIELDS)(v, path);
    throw new IdlegradError(
      'SCHEMA_MISMATCH',
      `${path} has no partner field: it was signed under protocol 1; this coordinator takes protocol ${PROTOCOL_VERSION} reports (the partner is signed)`,
    );
  }
  return shape<ContributionJson>({ ...CONTRIBUTION_V1_FIELDS, partner: signedPartner })(v, path);
}

export function parseDelegation(v: unknown, path = 'delegation'): DelegationJson {
  return shape<DelegationJson>({ wallet: addr, device: addr, nonce: decimal, expiry: decimal })(v, path);
}
export const delegationFromJson = (d: DelegationJson): Delegation => ({ ...d, nonce: BigInt(d.nonce), expiry: BigInt(d.expiry) });
export const delegationToJson = (d: Delegation): DelegationJson => ({ ...d, nonce: d.nonce.toString(), expiry: d.expiry.toString() });

export const contributionFromJson = (c: ContributionJson): Contribution => ({ ...c, nonce: BigInt(c.nonce), expiry: BigInt(c.expiry) });
export const contributionToJson = (c: Contribution): ContributionJson => ({ ...c, nonce: c.nonce.toString(), expiry: c.expiry.toString() });

/** Relay messages are binary: as JSON they are refused, naming where they belong. */
const notJson = (path: string): never => fail(path, 'no JSON: this message travels as a binary WebSocket message (shared/wire/relay.ts)', 'JSON');

const CLIENT_TYPES = ['hello', 'start', 'stop', 'report', 'relay', 'announce', 'bind', 'subscribe'] as const;

/** Parse an untrusted client message (already JSON-decoded). Throws IdlegradError('BAD_MESSAGE'). */
export function parseClientMessage(raw: unknown): ClientMessage {
  const o = obj(raw, 'message');
  const type = oneOf(CLIENT_TYPES)(o.type, 'message.type');
  switch (type) {
    case 'hello': {
      const protocol = u32(o.protocol, 'hello.protocol');
      // An older page's hello has no session key: refused by its version, not by the field it lacks.
      if (protocol !== PROTOCOL_VERSION && o.session === undefined)
        throw new IdlegradError(
          'SCHEMA_MISMATCH',
          `protocol ${protocol} is not supported (expected ${PROTOCOL_VERSION}: reports are signed by a session key the hello certifies)`,
        );
      return {
        type,
        protocol,
        address: addr(o.address, 'hello.address'),
        peerId: str(64)(o.peerId, 'hello.peerId'),
        signature: sig(o.signature, 'hello.signature'),
        adapter: nullable(parseAdapterInfo)(o.adapter, 'hello.adapter'),
        gflops: nullable(nonNegative)(o.gflops, 'hello.gflops'),
        partner: partnerId(o.partner, 'hello.partner'),
        device: deviceKind(o.device, 'hello.device'),
        session: parseSessionGrant(o.session, 'hello.session'),
      };
    }
    case 'start':
    case 'stop':
      return { type };
    case 'report':
      return {
        type,
        contribution: parseContribution(o.contribution, 'report.contribution'),
        signature: edSig(o.signature, 'report.signature'),
        frameHashes: arrayOf(hex32, 256)(o.frameHashes, 'report.frameHashes'),
        device: deviceKind(o.device, 'report.device'),
      };
    case 'relay':
      return notJson('relay');
    case 'announce':
      return {
        type,
        round: u32(o.round, 'announce.round'),
        aggregateHash: hex32(o.aggregateHash, 'announce.aggregateHash'),
        frameHashes: arrayOf(hex32, 256)(o.frameHashes, 'announce.frameHashes'),
      };
    case 'bind':
      return { type, delegation: parseDelegation(o.delegation, 'bind.delegation'), signature: sig(o.signature, 'bind.signature') };
    case 'subscribe':
      if (o.topic !== 'dashboard') fail('subscribe.topic', '"dashboard"', o.topic);
      return { type, topic: 'dashboard' };
  }
}

type Body<T extends ServerMessage['type']> = Omit<Extract<ServerMessage, { type: T }>, 'type'>;
const time = nonNegative;
/** The leaves a validator samples (shared/wire/evidence.ts): at most MAX_ASKED_LEAVES, strictly increasing. */
const sampledLeaves: Parser<number[]> = (v, path) => {
  const leaves = arrayOf(u32, MAX_ASKED_LEAVES)(v, path);
  leaves.forEach((x, i) => i > 0 && x <= leaves[i - 1] && fail(`${path}[${i}]`, 'a leaf index above the one before', x));
  return leaves;
};

const SERVER_BODIES: { [T in ServerMessage['type']]: Parser<Body<T>> } = {
  challenge: shape<Body<'challenge'>>({
    challenge: str(128),
    serverTime: time,
    session: shape<Body<'challenge'>['session']>({ run: u32, chainId: u32, distributor: addr }),
  }),
  welcome: shape<Body<'welcome'>>({ run: parseRunSpec, round: u32, modelHash: hex32, chain: parseChainInfo, serverTime: time, ice: optional(parseIceGrant) }),
  ice: shape<Body<'ice'>>({ ice: parseIceGrant, serverTime: time }),
  round: shape<Body<'round'>>({
    run: u32,
    round: u32,
    modelHash: hex32,
    cohort: shape<CohortSeat>({ id: u32, members: arrayOf(shape<CohortSeat['members'][number]>({ address: addr, peerId: str(64) }), 1024) }),
    seed: u32,
    steps: u32,
    startsAt: time,
    exchangeEndsAt: time,
    reportEndsAt: time,
    serverTime: time,
  }),
  committed: shape<Body<'committed'>>({
    run: u32,
    round: u32,
    modelHash: hex32,
    updateBytes: u32,
    updateHash: nullable(hex32),
    accepted: u32,
    serverTime: time,
  }),
  'relayed-frame': (_v, path) => notJson(path),
  announced: shape<Body<'announced'>>({ round: u32, cohort: u32, from: addr, aggregateHash: hex32, frameHashes: arrayOf(hex32, 256) }),
  ack: shape<Body<'ack'>>({ nonce: decimal, state: oneOf(CONTRIBUTION_STATES), reason: nullable(str(2000)) }),
  error: shape<Body<'error'>>({ code: oneOf(ERROR_CODES), message: str(4000), ref: optional(str(64)) }),
  account: shape<Body<'account'>>({ summary: parseAccountSummary }),
  dashboard: shape<Body<'dashboard'>>({ state: parseDashboardState }),
  verify: shape<Body<'verify'>>({
    run: u32,
    round: u32,
    frameHash: hex32,
    needs: shape<EvidenceNeeds>({ before: bool, after: bool, leaves: sampledLeaves }),
    deadline: time,
    serverTime: time,
  }),
};
const SERVER_TYPES = Object.keys(SERVER_BODIES) as ServerMessage['type'][];

/** Parse a coordinator message (already JSON-decoded): the tag and every field, keypaths named as `<type>.<field>`. */
export function parseServerMessage(raw: unknown): ServerMessage {
  const o = obj(raw, 'message');
  const type = oneOf(SERVER_TYPES)(o.type, 'message.type');
  return { type, ...SERVER_BODIES[type](o, type) } as ServerMessage;
}
