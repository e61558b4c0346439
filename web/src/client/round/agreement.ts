// Cohort agreement for one round on this page (issue 16 items 2 and 3; DESIGN.md "Agreeing on a
// cohort's aggregate"), after the WebRTC all-gather has settled:
//
//   1. relay: the members this page holds no frame from, or could not hand its own frame to,
//      get its frame through the coordinator's WebSocket (`relay`); their frames reach it the
//      same way (`relayed-frame`). A relay costs bandwidth, never participation.
//   2. announce: the designated uploader (the lowest address among the frames it holds, as
//      cohortAggregate names it) uploads its aggregate and announces which frames (by hash) are
//      in; the coordinator forwards the cohort's first announcement to every member.
//   3. sign: a member signs the announced aggregate only if it holds exactly those frames and
//      computes the same hash; a member missing an announced frame waits for the relay until
//      the deadline, else it abstains.
//
// Deadlines, in server time, split the report window R = reportEndsAt − exchangeEndsAt after
// the exchange deadline: relayed frames are awaited until RELAY_SHARE·R, an announcement until
// ANNOUNCE_SHARE·R; the rest of the window is for the signed reports. Transport-agnostic: the
// coordinator messages come in through receive(), go out through the injected send.
import type { Address, Hex } from 'viem';
import { hashFrame } from '../../../../shared/codec.ts';
import type { ClientMessage, ServerMessage } from '../../../../shared/wire/index.ts';
import type { Scheduler } from '../clock.ts';

export const RELAY_SHARE = 0.25;
export const ANNOUNCE_SHARE = 0.6;

export type RelayMessage = Extract<ClientMessage, { type: 'relay' | 'announce' }>;
export type AgreementMessage = Extract<ServerMessage, { type: 'relayed-frame' | 'announced' }>;
export type Announcement = Extract<ServerMessage, { type: 'announced' }>;

/** A member's frame as this page holds it (own, from a data channel, or relayed). */
export interface HeldFrameBytes {
  address: Address;
  hash: Hex;
  bytes: Uint8Array;
}

export interface AgreementOptions {
  round: number;
  self: Address;
  /** Every cohort member's address, self included. */
  members: Address[];
  exchangeEndsAt: number;
  reportEndsAt: number;
  /** Validates a relayed frame (decodeFrame under the round's peer limits); throws on fault. */
  check: (bytes: Uint8Array) => void;
  /** Sends to the coordinator; false when the socket is down. */
  send: (m: RelayMessage) => boolean;
  scheduler: Scheduler;
  log: (level: 'info' | 'warn', text: string) => void;
}

export class CohortAgreement {
  private readonly held = new Map<Address, HeldFrameBytes>();
  private announcement: Announcement | null = null;
  private readonly waiters = new Set<() => void>();
  private disposed = false;
  relayedIn = 0;

  constructor(private readonly o: AgreementOptions) {}

  get relayEndsAt(): number {
    return this.o.exchangeEndsAt + RELAY_SHARE * (this.o.reportEndsAt - this.o.exchangeEndsAt);
  }
  get announceEndsAt(): number {
    return this.o.exchangeEndsAt + ANNOUNCE_SHARE * (this.o.reportEndsAt - this.o.exchangeEndsAt);
  }

  /** A frame this page holds (its own, or one from a data channel). */
  hold(f: HeldFrameBytes): void {
    if (!this.held.has(f.address)) this.held.set(f.address, f);
    this.wake();
  }

  frames(): HeldFrameBytes[] {
    return [...this.held.values()];
  }

  /** A coordinator message for this round's agreement; anything for another round or from a stranger is dropped with a log line. */
  receive(m: AgreementMessage): void {
    if (m.round !== this.o.round) return;
    const from = m.from.toLowerCase() as Address;
    if (!this.o.members.includes(from) || from === this.o.self) {
      this.o.log('warn', `round ${m.round}: ${m.type} from ${from}, who is not another member of this cohort: ignored`);
      return;
    }
    if (m.type === 'announced') {
      this.announcement ??= { ...m, from, frameHashes: m.frameHashes.map((h) => h.toLowerCase() as Hex) };
      this.wake();
      return;
    }
    if (this.held.has(from)) return;
    const bytes = m.frame;
    try {
      this.o.check(bytes);
    } catch (e) {
      this.o.log('warn', `round ${m.round}: relayed frame from ${from} refused: ${(e as Error).message}`);
      return;
    }
    this.relayedIn++;
    this.hold({ address: from, hash: hashFrame(bytes), bytes });
  }

  /**
   * Step 1: relays `own` to the members whose frame this page lacks or that did not get its
   * frame over WebRTC (`unsent`), then waits until their frames are held or the relay deadline.
   * Returns the members it relayed to.
   */
  async relay(own: HeldFrameBytes, unsent: Address[]): Promise<Address[]> {
    this.hold(own);
    const lacking = this.o.members.filter((a) => a !== this.o.self && !this.held.has(a));
    const to = [...new Set([...lacking, ...unsent.filter((a) => a !== this.o.self)])].sort();
    if (to.length === 0) return to;
    if (!this.o.send({ type: 'relay', round: this.o.round, to, frame: own.bytes })) {
      this.o.log('warn', `round ${this.o.round}: the coordinator connection is down: no relay to ${to.length} member(s)`);
      return [];
    }
    this.o.log('info', `round ${this.o.round}: relayed our frame through the coordinator to ${to.length} member(s) without a WebRTC path`);
    await this.until(() => lacking.every((a) => this.held.has(a)), this.relayEndsAt);
    return to;
  }

  /** Step 2 (the uploader): tells the cohort which frames the uploaded aggregate holds. */
  announce(aggregateHash: Hex, frameHashes: Hex[]): boolean {
    return this.o.send({ type: 'announce', round: this.o.round, aggregateHash, frameHashes });
  }

  /** The announcement if one has arrived. */
  get announcedNow(): Announcement | null {
    return this.announcement;
  }

  /** The announcement, once one arrived (immediately when it already did), or null at the deadline. */
  async announced(): Promise<Announcement | null> {
    await this.until(() => this.announcement !== null, this.announceEndsAt);
    return this.announcement;
  }

  /** Step 3: the announced frames, once every one is held (waiting for the relay until `deadline`), or null. */
  async framesFor(a: Announcement, deadline: number): Promise<HeldFrameBytes[] | null> {
    const pick = () => {
      const byHash = new Map([...this.held.values()].map((f) => [f.hash.toLowerCase() as Hex, f]));
      const out = a.frameHashes.map((h) => byHash.get(h));
      return out.every((f) => f !== undefined) ? (out as HeldFrameBytes[]) : null;
    };
    await this.until(() => pick() !== null, deadline);
    return pick();
  }

  /** Resolves when `cond` holds or at server time `deadline`, whichever comes first. */
  private until(cond: () => boolean, deadline: number): Promise<void> {
    if (cond() || this.disposed) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!cond() && !this.disposed) return;
        done();
      };
      const done = () => {
        this.waiters.delete(check);
        cancel();
        resolve();
      };
      const cancel = this.o.scheduler.after(Math.max(0, deadline - this.o.scheduler.now()), done);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Ends every wait now (a newer round or Stop). */
  dispose(): void {
    this.disposed = true;
    for (const w of [...this.waiters]) w();
  }
}
