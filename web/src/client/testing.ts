// Test doubles shared by the client's tests: a manual clock and in-memory peer links.
import { hashMessage, hexToBigInt, parseSignature, type Address, type Hex } from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { secp256k1 } from '@noble/curves/secp256k1';
import type { Scheduler } from './clock.ts';
import type { ChannelLike, PeerLink } from './p2p/links.ts';

/** Timers that fire only when the test advances time. */
export class ManualScheduler implements Scheduler {
  private t: number;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  constructor(start = 1_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.t + Math.max(0, ms), fn, id });
    return () => (this.timers = this.timers.filter((x) => x.id !== id));
  }
  /** Moves time forward, firing due timers in order (and letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets queued microtasks and immediates run (signatures, message delivery). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export class FakeChannel extends EventTarget implements ChannelLike {
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  /** Drain the send buffer to `to` bytes, firing 'bufferedamountlow' on crossing the threshold. */
  drainTo(to: number): void {
    const was = this.bufferedAmount;
    this.bufferedAmount = to;
    if (was > this.bufferedAmountLowThreshold && to <= this.bufferedAmountLowThreshold) this.dispatchEvent(new Event('bufferedamountlow'));
  }
  override addEventListener(type: string, fn: () => void): void {
    super.addEventListener(type, fn);
  }
  override removeEventListener(type: string, fn: () => void): void {
    super.removeEventListener(type, fn);
  }
}

export interface FakeLink extends PeerLink {
  readonly fake: FakeChannel;
  sent: (string | Uint8Array)[];
  /** Deliver as if from the remote side. */
  deliver(d: string | Uint8Array): void;
  open(): void;
  remoteClose(reason?: string): void;
  closed: boolean;
}

/** One end of a link; `peer` is the other end once paired. */
export function fakeLink(remotePeerId: string, opts: { onSend?: (d: string | Uint8Array) => void } = {}): FakeLink {
  const ch = new FakeChannel();
  let openFn: (() => void) | null = null;
  let dataFn: ((d: string | Uint8Array) => void) | null = null;
  let closeFn: ((r: string) => void) | null = null;
  let isOpen = false;
  const link: FakeLink = {
    remotePeerId,
    fake: ch,
    sent: [],
    closed: false,
    get channel() {
      return isOpen ? ch : null;
    },
    send(d) {
      if (link.closed) throw new Error('send on a closed link');
      link.sent.push(d);
      opts.onSend?.(d);
    },
    close() {
      // Like PeerJS: closing locally also reports 'close' locally.
      if (link.closed) return;
      link.closed = true;
      ch.dispatchEvent(new Event('close'));
      closeFn?.('closed locally');
    },
    onOpen(fn) {
      openFn = fn;
      if (isOpen) queueMicrotask(fn);
    },
    onData(fn) {
      dataFn = fn;
    },
    onClose(fn) {
      closeFn = fn;
    },
    deliver(d) {
      if (!link.closed) dataFn?.(d);
    },
    open() {
      isOpen = true;
      openFn?.();
    },
    remoteClose(reason = 'remote closed') {
      if (link.closed) return;
      link.closed = true;
      ch.dispatchEvent(new Event('close'));
      closeFn?.(reason);
    },
  };
  return link;
}

/**
 * An in-memory network: dial(from → to) makes a connected pair, hands `to` its end through
 * the registered acceptor, then opens both ends. Messages are delivered asynchronously.
 */
export class FakeNetwork {
  private readonly acceptors = new Map<string, (link: PeerLink) => void>();
  readonly links: { from: string; to: string; a: FakeLink; b: FakeLink }[] = [];
  /** Peer ids that never answer (dials to them never open). */
  readonly dead = new Set<string>();
  /** Pairs with no path between them (a NAT that WebRTC cannot cross): their dials never open. */
  private readonly blocked = new Set<string>();

  block(a: string, b: string): void {
    this.blocked.add([a, b].sort().join('|'));
  }

  register(peerId: string, accept: (link: PeerLink) => void): void {
    this.acceptors.set(peerId, accept);
  }

  dial(from: string, to: string): PeerLink {
    // eslint-disable-next-line prefer-const
    let b: FakeLink;
    const a = fakeLink(to, { onSend: (d) => setImmediate(() => b.deliver(typeof d === 'string' ? d : d.slice())) });
    b = fakeLink(from, { onSend: (d) => setImmediate(() => a.deliver(typeof d === 'string' ? d : d.slice())) });
    const origCloseA = a.close;
    const origCloseB = b.close;
    a.close = () => (origCloseA(), b.remoteClose('peer closed'));
    b.close = () => (origCloseB(), a.remoteClose('peer closed'));
    this.links.push({ from, to, a, b });
    if (!this.dead.has(to) && !this.blocked.has([from, to].sort().join('|'))) {
      setImmediate(() => {
        this.acceptors.get(to)?.(b);
        setImmediate(() => (a.open(), b.open()));
      });
    }
    return a;
  }
}

/**
 * Waits until `cond` holds: first for event-loop turns, then polling every few ms (signature
 * checks may load code on first use). Wall time only bounds a failure; it never decides a result.
 */
export async function until(cond: () => boolean, what = 'condition', maxMs = 10_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (let i = 0; ; i++) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => (i < 1000 ? setImmediate(r) : setTimeout(r, 2)));
  }
}

/**
 * A peer-signature check with no dynamic import, for tests on the ManualScheduler. viem's
 * verifyMessage imports its secp256k1 code with import() on every check, and under tsx every
 * import() is resolved by the loader thread: real cross-thread time that a fake-time step does
 * not wait for, so a handshake deadline could pass in fake time while a check was still in
 * flight (round-runner's partial-connectivity test failed about 1 run in 7 that way).
 */
export async function verifyMessageSync(address: Address, message: string, signature: Hex): Promise<boolean> {
  const { r, s, yParity } = parseSignature(signature);
  const sig = new secp256k1.Signature(hexToBigInt(r), hexToBigInt(s)).addRecoveryBit(yParity ?? 0);
  const publicKey = sig.recoverPublicKey(hashMessage(message).slice(2)).toHex(false);
  return publicKeyToAddress(`0x${publicKey}`).toLowerCase() === address.toLowerCase();
}
