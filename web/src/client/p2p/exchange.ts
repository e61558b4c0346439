// The cohort all-gather of one round over WebRTC data channels (transport-agnostic: the
// PeerJS adapter lives in peer-net.ts, tests use in-memory links).
//
// For each other member, the member with the lexicographically smaller peerId dials. The
// first message each way is a JSON handshake signed by the device key; a link whose
// handshake does not verify against the coordinator's member list is dropped. Then each
// side sends its update frame as ≤16 KiB chunks with event-driven backpressure, and
// reassembles the other's into a FrameAssembler capped by the run spec.
//
// The exchange settles when every other member is either complete (its frame is in and
// valid) or failed, or when the round's exchange deadline passes. A failed peer is left
// out; the exchange never throws, so reporting always happens.
//
// Links persist across rounds while the cohort does (link-pool.ts): with `reuse` and `park`,
// the exchange starts on the previous round's open link to a member instead of dialling, and
// at its end parks every link whose handshake verified instead of closing it. So one link
// carries several rounds, and each message names its round: the handshake opens the round on
// the link (a peer sends its frame only after ours verified), a chunk of another round is
// refused as stale (never fatal: a finished round's late frame), and a handshake of a later
// round means the peer moved on: the link goes to the pool for our next exchange.
//
// Timeouts per peer: exchange-types.ts PeerTimeouts.
import type { Address, Hex } from 'viem';
import { hashFrame, type DecodedFrame } from '../../../../shared/codec.ts';
import { isIdlegradError, type ErrorCode } from '../../../../shared/errors.ts';
import {
  cohortHandshakeMessage,
  encodeHandshake,
  FrameAssembler,
  FrameKind,
  parsePeerMessage,
  splitFrame,
  type PeerMessage,
} from '../../../../shared/wire/index.ts';
import { DEFAULT_BACKPRESSURE, dialsTo, sendChunks, type Backpressure, type PeerLink } from './links.ts';
import { describeError } from '../errors.ts';
import { DEFAULT_PEER_TIMEOUTS } from './exchange-types.ts';
import type { CohortMember, ExchangeOptions, ExchangeResult, HeldFrame, PeerTimeouts } from './exchange-types.ts';

export * from './exchange-types.ts';

interface Slot {
  member: CohortMember;
  weDial: boolean;
  link: PeerLink | null;
  /** The link came from the previous round; its handshake verified this round. */
  reused: boolean;
  verifiedLink: boolean;
  /** Incremented per link so late events from a dropped link are ignored. */
  epoch: number;
  /** Link state; a peer is settled once `received` is set or status is 'failed'. */
  status: 'waiting' | 'linked' | 'verified' | 'failed';
  failure: { code: ErrorCode; message: string } | null;
  dials: number;
  assembler: FrameAssembler;
  received: HeldFrame | null;
  inbox: Promise<void>;
  sending: boolean;
  sentOurs: boolean;
  bytesIn: number;
  bytesOut: number;
  cancelTimer: (() => void) | null;
}

export class CohortExchange {
  readonly finished: Promise<ExchangeResult>;
  private resolveFinished!: (r: ExchangeResult) => void;
  private readonly slots = new Map<string, Slot>();
  private readonly timeouts: PeerTimeouts;
  private readonly bp: Backpressure;
  private ownFrame: { bytes: Uint8Array; hash: Hex; chunks: Uint8Array[] } | null = null;
  private handshakeText: Promise<string> | null = null;
  private settled = false;
  private disposed = false;
  private cancelDeadline: (() => void) | null = null;
  private bytesIn = 0;
  private bytesOut = 0;

  constructor(private readonly o: ExchangeOptions) {
    this.timeouts = { ...DEFAULT_PEER_TIMEOUTS, ...o.timeouts };
    this.bp = { ...DEFAULT_BACKPRESSURE, ...o.backpressure };
    this.finished = new Promise((r) => (this.resolveFinished = r));
    for (const m of o.members) {
      if (m.peerId === o.self.peerId) continue;
      this.slots.set(m.peerId, {
        member: { address: m.address.toLowerCase() as Address, peerId: m.peerId },
        weDial: dialsTo(o.self.peerId, m.peerId),
        link: null,
        reused: false,
        verifiedLink: false,
        epoch: 0,
        status: 'waiting',
        failure: null,
        dials: 0,
        assembler: new FrameAssembler(o.round, o.maxFrameBytes),
        received: null,
        inbox: Promise.resolve(),
        sending: false,
        sentOurs: false,
        bytesIn: 0,
        bytesOut: 0,
        cancelTimer: null,
      });
    }
  }

  get round(): number {
    return this.o.round;
  }

  /** Whether `peerId` is another member of this cohort (incoming links from others are refused). */
  isMember(peerId: string): boolean {
    return this.slots.has(peerId);
  }

  /** Peers whose handshake verified on a live link, and those whose frame is in. */
  counts(): { members: number; verified: number; frames: number } {
    let verified = 0;
    let frames = 0;
    for (const s of this.slots.values()) {
      if (s.status === 'verified') verified++;
      if (s.received) frames++;
    }
    return { members: this.slots.size + 1, verified, frames };
  }

  /** Take over the previous round's links, dial the other members this peer dials, and arm the deadline. */
  start(): void {
    this.cancelDeadline = this.o.scheduler.after(this.o.endsAt - this.o.scheduler.now(), () => this.finish(true));
    for (const slot of this.slots.values()) {
      const kept = this.o.reuse?.(slot.member.peerId);
      if (kept) this.attach(slot, kept.link, kept.pending, true);
      else if (slot.weDial) this.dial(slot);
    }
    this.checkDone();
  }

  /** An incoming link. Returns false (and closes it) when it is not from a member who dials us. */
  accept(link: PeerLink): boolean {
    const slot = this.slots.get(link.remotePeerId);
    const refuse = (message: string) => {
      this.o.onEvent?.({ type: 'rejected-link', peerId: link.remotePeerId, message });
      link.close();
      return false;
    };
    if (this.disposed) return refuse(`round ${this.o.round} exchange is over`);
    if (!slot) return refuse(`not a member of this round's cohort`);
    if (slot.weDial) return refuse('this peer dials them, not the other way round');
    if (slot.status === 'failed') return refuse(`peer was left out: ${slot.failure?.message ?? 'failed'}`);
    // A reconnect replaces the old link; whatever was half-received starts over.
    if (slot.link) this.resetLink(slot);
    this.attach(slot, link);
    return true;
  }

  /** This peer's own update frame: sent to every verified peer, now and as they verify. */
  setOwnFrame(bytes: Uint8Array): void {
    this.ownFrame = { bytes, hash: hashFrame(bytes), chunks: splitFrame(bytes, this.o.round) };
    for (const slot of this.slots.values()) if (slot.status === 'verified') void this.sendOurs(slot);
  }

  /** End of round: park every open link whose handshake verified (with `park`), close the rest. Settles `finished` if it has not settled. */
  dispose(): void {
    if (this.disposed) return;
    this.finish(false);
    this.disposed = true;
    this.cancelDeadline?.();
    for (const slot of this.slots.values()) {
      slot.epoch++;
      slot.cancelTimer?.();
      const link = slot.link;
      slot.link = null;
      if (link && slot.verifiedLink && link.channel && this.o.park) this.o.park(link, []);
      else link?.close();
    }
  }

  // ---- per-link lifecycle -----------------------------------------------------------

  private dial(slot: Slot): void {
    if (this.disposed || slot.status === 'failed' || (slot.received && slot.sentOurs)) return;
    slot.dials++;
    let link: PeerLink;
    try {
      link = this.o.dial(slot.member.peerId);
    } catch (e) {
      this.transientFailure(slot, 'PEER_TIMEOUT', `dial failed: ${describeError(e)}`);
      return;
    }
    this.attach(slot, link);
  }

  private attach(slot: Slot, link: PeerLink, pending: string[] = [], reused = false): void {
    const epoch = ++slot.epoch;
    slot.link = link;
    slot.reused = reused;
    slot.verifiedLink = false;
    slot.status = 'linked';
    slot.assembler = new FrameAssembler(this.o.round, this.o.maxFrameBytes);
    slot.inbox = Promise.resolve();
    const live = () => slot.epoch === epoch && !this.disposed;
    this.arm(slot, this.timeouts.handshakeMs, 'no verified handshake in time');
    link.onOpen(() => {
      if (!live()) return;
      this.sendHandshake(link).catch((e) => live() && this.transientFailure(slot, 'INTERNAL', `handshake send failed: ${describeError(e)}`));
    });
    const onData = (data: string | Uint8Array) => {
      if (!live()) return;
      slot.inbox = slot.inbox.then(async () => {
        if (!live()) return;
        try {
          await this.receive(slot, data, epoch);
        } catch (e) {
          this.fatal(slot, 'INTERNAL', `handling a message failed: ${describeError(e)}`);
        }
      });
    };
    link.onData(onData);
    // What arrived while the link was parked (the peer's handshake for this round).
    for (const d of pending) onData(d);
    link.onClose((reason) => {
      if (live()) this.transientFailure(slot, 'PEER_TIMEOUT', `link closed: ${reason}`);
    });
  }

  private async sendHandshake(link: PeerLink): Promise<void> {
    this.handshakeText ??= this.o
      .sign(cohortHandshakeMessage(this.o.run, this.o.round, this.o.self.peerId))
      .then((signature) => encodeHandshake({ address: this.o.self.address, peerId: this.o.self.peerId, round: this.o.round, signature }));
    link.send(await this.handshakeText);
  }

  private async receive(slot: Slot, data: string | Uint8Array, epoch: number): Promise<void> {
    let msg: PeerMessage;
    try {
      msg = parsePeerMessage(data);
    } catch (e) {
      if (slot.status !== 'failed') this.fatal(slot, isIdlegradError(e) ? e.code : 'BAD_MESSAGE', describeError(e));
      return;
    }
    const m = slot.member;
    const fromMember = msg.type === 'handshake' && msg.handshake.peerId === m.peerId && msg.handshake.address === m.address;
    // A peer left out of this round (late, say) may still be in our next cohort: its link moves on.
    if (fromMember && msg.type === 'handshake' && msg.handshake.round > this.o.round && this.o.park)
      return this.handOff(slot, data as string, msg.handshake.round);
    if (slot.status === 'failed') return;
    if (msg.type === 'handshake') {
      const hs = msg.handshake;
      if (!fromMember) return this.fatal(slot, 'NOT_A_MEMBER', `handshake names ${hs.address}/${hs.peerId}, the cohort lists ${m.address}/${m.peerId}`);
      if (hs.round < this.o.round && slot.reused) return this.stale(slot, `handshake for round ${hs.round} refused: this link is in round ${this.o.round}`);
      if (hs.round !== this.o.round) return this.fatal(slot, 'STALE_ROUND', `handshake for round ${hs.round}, expected ${this.o.round}`);
      if (slot.status !== 'linked') return this.fatal(slot, 'BAD_MESSAGE', 'second handshake on one link');
      let ok = false;
      try {
        ok = await this.o.verify(m.address, cohortHandshakeMessage(this.o.run, hs.round, hs.peerId), hs.signature);
      } catch {
        ok = false;
      }
      // The link may have dropped while the signature was being checked.
      if (slot.epoch !== epoch || this.disposed || slot.status !== 'linked') return;
      if (!ok) return this.fatal(slot, 'BAD_SIGNATURE', 'handshake signature does not verify for the listed address');
      slot.status = 'verified';
      slot.verifiedLink = true;
      // Until their frame starts, only the exchange deadline applies (they may still be training).
      slot.cancelTimer?.();
      slot.cancelTimer = null;
      this.o.onEvent?.({ type: 'verified', peerId: m.peerId, address: m.address });
      void this.sendOurs(slot);
      return;
    }
    // Before the handshake check: a late chunk of the previous round may precede this round's handshake.
    if (msg.round !== this.o.round)
      return this.stale(slot, `a ${msg.bytes.byteLength}-byte frame chunk of round ${msg.round} refused: this link is in round ${this.o.round}`);
    if (slot.status !== 'verified') return this.fatal(slot, 'BAD_MESSAGE', 'frame data before a verified handshake');
    const chunk = msg.bytes;
    slot.bytesIn += chunk.byteLength;
    this.bytesIn += chunk.byteLength;
    this.o.onBytes?.('in', chunk.byteLength);
    let whole: Uint8Array | null;
    try {
      whole = slot.assembler.push(chunk);
    } catch (e) {
      return this.fatal(slot, isIdlegradError(e) ? e.code : 'BAD_FRAME', describeError(e));
    }
    if (!whole) {
      this.arm(slot, this.timeouts.idleMs, 'frame transfer stalled');
      return;
    }
    slot.cancelTimer?.();
    slot.cancelTimer = null;
    slot.assembler = new FrameAssembler(this.o.round, this.o.maxFrameBytes);
    const hash = hashFrame(whole);
    if (slot.received) {
      // A resend after a reconnect is fine; a different frame from the same peer is not.
      if (slot.received.hash !== hash) this.fatal(slot, 'DUPLICATE', 'peer sent two different frames in one round');
      return;
    }
    if (hash === this.ownFrame?.hash || [...this.slots.values()].some((s) => s !== slot && s.received?.hash === hash)) {
      return this.fatal(slot, 'DUPLICATE', `frame ${hash.slice(0, 10)}… is a copy of another member's`);
    }
    let frame: DecodedFrame;
    try {
      frame = this.o.decode(whole);
    } catch (e) {
      return this.fatal(slot, isIdlegradError(e) ? e.code : 'BAD_FRAME', describeError(e));
    }
    if (frame.header.kind !== FrameKind.update) return this.fatal(slot, 'BAD_FRAME', 'peer sent an aggregate frame, not an update');
    slot.received = { address: slot.member.address, peerId: slot.member.peerId, bytes: whole, hash, frame };
    this.o.onEvent?.({ type: 'frame', peerId: slot.member.peerId, address: slot.member.address, bytes: whole.byteLength, hash });
    this.checkDone();
  }

  private async sendOurs(slot: Slot): Promise<void> {
    const own = this.ownFrame;
    const link = slot.link;
    if (!own || !link || slot.sending || slot.sentOurs || this.disposed) return;
    slot.sending = true;
    const epoch = slot.epoch;
    try {
      await sendChunks(
        link,
        own.chunks,
        this.bp,
        (n) => {
          slot.bytesOut += n;
          this.bytesOut += n;
          this.o.onBytes?.('out', n);
        },
        () => this.disposed || slot.epoch !== epoch,
      );
      slot.sentOurs = true;
      this.o.onEvent?.({ type: 'sent', peerId: slot.member.peerId, bytes: own.bytes.byteLength });
    } catch (e) {
      if (slot.epoch === epoch && !this.disposed) this.transientFailure(slot, 'PEER_TIMEOUT', `sending our frame failed: ${describeError(e)}`);
    } finally {
      if (slot.epoch === epoch) slot.sending = false;
    }
  }

  // ---- failures and timers ----------------------------------------------------------

  private stale(slot: Slot, message: string): void {
    this.o.onEvent?.({ type: 'stale', peerId: slot.member.peerId, code: 'STALE_ROUND', message });
  }

  /**
   * The peer's handshake for a later round: it moved on (its round message came before ours).
   * Its frames for this round came before on the ordered link, so what is not in never will be;
   * the link and the handshake go to the pool for our exchange of that round.
   */
  private handOff(slot: Slot, handshake: string, round: number): void {
    const link = slot.link!;
    slot.epoch++;
    slot.cancelTimer?.();
    slot.cancelTimer = null;
    slot.link = null;
    slot.sending = false;
    this.o.park!(link, [handshake]);
    if (!slot.received && slot.status !== 'failed')
      this.fail(slot, 'STALE_ROUND', `peer moved on to round ${round} before its frame of round ${this.o.round} came`);
  }

  private arm(slot: Slot, ms: number, why: string): void {
    slot.cancelTimer?.();
    const epoch = slot.epoch;
    slot.cancelTimer = this.o.scheduler.after(ms, () => {
      if (slot.epoch === epoch && slot.status !== 'failed') this.transientFailure(slot, 'PEER_TIMEOUT', why);
    });
  }

  private resetLink(slot: Slot): void {
    slot.epoch++;
    slot.cancelTimer?.();
    slot.cancelTimer = null;
    slot.link?.close();
    slot.link = null;
    slot.sending = false;
    slot.sentOurs = false;
  }

  /** The link is gone but the peer may come back: the dialler retries, the other side waits. */
  private transientFailure(slot: Slot, code: ErrorCode, message: string): void {
    if (slot.status === 'failed' || this.disposed) return;
    this.resetLink(slot);
    slot.status = 'waiting';
    const canRedial = slot.weDial && slot.dials < this.timeouts.maxDials && this.o.scheduler.now() + this.timeouts.redialMs < this.o.endsAt;
    if (slot.received) {
      // Their frame is already in; only our delivery to them was cut short.
      this.o.onEvent?.({ type: 'peer-failed', peerId: slot.member.peerId, code, message: `${message} (their frame is already in)`, final: false });
    } else if (this.settled || (slot.weDial && !canRedial)) {
      this.fail(slot, code, message);
      return;
    } else {
      this.o.onEvent?.({ type: 'peer-failed', peerId: slot.member.peerId, code, message, final: false });
    }
    if (canRedial) {
      const epoch = slot.epoch;
      slot.cancelTimer = this.o.scheduler.after(this.timeouts.redialMs, () => {
        if (slot.epoch === epoch) this.dial(slot);
      });
    }
  }

  /** A protocol violation: the peer is left out of this round for good. */
  private fatal(slot: Slot, code: ErrorCode, message: string): void {
    this.resetLink(slot);
    slot.received = null;
    this.fail(slot, code, message);
  }

  private fail(slot: Slot, code: ErrorCode, message: string): void {
    slot.status = 'failed';
    slot.failure = { code, message };
    this.o.onEvent?.({ type: 'peer-failed', peerId: slot.member.peerId, code, message, final: true });
    this.checkDone();
  }

  private checkDone(): void {
    if (this.settled) return;
    for (const s of this.slots.values()) if (!s.received && s.status !== 'failed') return;
    this.finish(false);
  }

  private finish(timedOut: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.cancelDeadline?.();
    for (const s of this.slots.values()) {
      if (!s.received && s.status !== 'failed') {
        s.status = 'failed';
        s.failure = { code: 'PEER_TIMEOUT', message: 'no frame before the exchange deadline' };
        s.cancelTimer?.();
        s.cancelTimer = null;
      }
    }
    this.resolveFinished({
      frames: [...this.slots.values()].flatMap((s) => (s.received ? [s.received] : [])),
      peers: [...this.slots.values()].map((s) => ({
        address: s.member.address,
        peerId: s.member.peerId,
        status: s.received ? 'complete' : s.status,
        failure: s.failure,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        sentOurs: s.sentOurs,
        reused: s.reused,
      })),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      timedOut,
    });
  }
}
