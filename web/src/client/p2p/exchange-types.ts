// The cohort exchange's options, events and results (exchange.ts runs it).
//
// Per peer, in server-time milliseconds:
//   handshakeMs  a dialled link must open and the peer's handshake verify within this
//   idleMs       once a peer's frame has started, each next chunk must arrive within this
//   redialMs     pause before the dialler tries again after a transient failure
//   maxDials     attempts per peer (dialler only)
import type { Address, Hex } from 'viem';
import type { DecodedFrame } from '../../../../shared/codec.ts';
import type { ErrorCode } from '../../../../shared/errors.ts';
import type { Scheduler } from '../clock.ts';
import type { Backpressure, PeerLink } from './links.ts';
import type { ReusedLink } from './link-pool.ts';

export interface CohortMember {
  address: Address;
  peerId: string;
}

export interface PeerTimeouts {
  handshakeMs: number;
  idleMs: number;
  redialMs: number;
  maxDials: number;
}

export const DEFAULT_PEER_TIMEOUTS: PeerTimeouts = { handshakeMs: 6_000, idleMs: 5_000, redialMs: 1_000, maxDials: 3 };

export interface ExchangeOptions {
  run: number;
  round: number;
  self: CohortMember;
  /** Every member of the cohort, this peer included, as the coordinator announced them. */
  members: CohortMember[];
  /** Server-time deadline of the exchange phase. */
  endsAt: number;
  /** Cap on a peer's frame (maxUpdateFrameBytes of the run). */
  maxFrameBytes: number;
  /** Validates a received frame (decodeFrame with the round's peer limits); throws on fault. */
  decode: (bytes: Uint8Array) => DecodedFrame;
  /** Signs a cohort handshake text with the device key (EIP-191). */
  sign: (message: string) => Promise<Hex>;
  verify: (address: Address, message: string, signature: Hex) => Promise<boolean>;
  dial: (peerId: string) => PeerLink;
  scheduler: Scheduler;
  timeouts?: Partial<PeerTimeouts>;
  backpressure?: Partial<Backpressure>;
  /** Progress and faults, for the page's log. */
  onEvent?: (e: ExchangeEvent) => void;
  /** Every byte received or sent on any link (for the p2p counters). */
  onBytes?: (direction: 'in' | 'out', bytes: number) => void;
  /** The previous round's open link to a member (and what arrived on it since), used instead of a dial. */
  reuse?: (peerId: string) => ReusedLink | null;
  /** Keeps a verified link open for the next round (instead of closing it); `pending`: messages for that round. */
  park?: (link: PeerLink, pending: string[]) => void;
}

export type ExchangeEvent =
  | { type: 'verified'; peerId: string; address: Address }
  | { type: 'frame'; peerId: string; address: Address; bytes: number; hash: Hex }
  | { type: 'sent'; peerId: string; bytes: number }
  | { type: 'peer-failed'; peerId: string; code: ErrorCode; message: string; final: boolean }
  | { type: 'rejected-link'; peerId: string; message: string }
  /** A message of another round on a link that outlives rounds: refused, the link kept. */
  | { type: 'stale'; peerId: string; code: 'STALE_ROUND'; message: string };

export type PeerStatus = 'waiting' | 'linked' | 'verified' | 'complete' | 'failed';

export interface PeerOutcome {
  address: Address;
  peerId: string;
  status: PeerStatus;
  failure: { code: ErrorCode; message: string } | null;
  bytesIn: number;
  bytesOut: number;
  /** Whether our whole frame was handed to this peer's channel. */
  sentOurs: boolean;
  /** Whether the link this round ended on came from the previous round (no dial). */
  reused: boolean;
}

export interface HeldFrame {
  address: Address;
  peerId: string;
  bytes: Uint8Array;
  hash: Hex;
  frame: DecodedFrame;
}

export interface ExchangeResult {
  /** Peers' frames that arrived whole and valid (this peer's own frame not included). */
  frames: HeldFrame[];
  peers: PeerOutcome[];
  bytesIn: number;
  bytesOut: number;
  /** True when the deadline, not completion, ended the exchange. */
  timedOut: boolean;
}
