// Links that outlive a round (issue 16 item 1): at the end of a round the exchange parks every
// link whose handshake verified here, and the next round's exchange takes the ones to members
// that are again in its cohort (no dial, no ICE or DTLS handshake: only the round's signed
// handshake travels on the link again). Links to peers that left the cohort close when the
// next exchange opens; a parked link nobody takes within keepMs closes too.
//
// While parked, a link may carry the peer's handshake for the next round (its round message
// came first): the newest is kept and handed, with the link, to the exchange that takes it.
// Frame chunks are never expected on a parked link (a peer sends its frame only once our
// handshake for that round verified), so any that arrive are late ones of a finished round:
// dropped, and reported through onStale.
import type { Scheduler } from '../clock.ts';
import type { PeerLink } from './links.ts';

/** A parked link and what arrived on it meanwhile, handed to the exchange that takes it. */
export interface ReusedLink {
  link: PeerLink;
  /** At most one message: the peer's newest handshake text. */
  pending: string[];
}

interface Parked extends ReusedLink {
  cancel: () => void;
}

export class LinkPool {
  private readonly parked = new Map<string, Parked>();

  constructor(
    private readonly scheduler: Scheduler,
    /** A late chunk dropped on a parked link, or a parked link that closed. */
    private readonly onEvent: (peerId: string, what: string) => void = () => {},
  ) {}

  get size(): number {
    return this.parked.size;
  }

  /** Keeps an open, verified link for the next round's exchange for at most `keepMs`. */
  park(link: PeerLink, keepMs: number, pending: string[] = []): void {
    const peerId = link.remotePeerId;
    const old = this.parked.get(peerId);
    if (old && old.link !== link) this.drop(peerId, true);
    const entry: Parked = { link, pending: pending.slice(-1), cancel: () => {} };
    this.parked.set(peerId, entry);
    const mine = () => this.parked.get(peerId) === entry;
    link.onData((d) => {
      if (!mine()) return;
      if (typeof d === 'string') entry.pending = [d];
      else this.onEvent(peerId, `dropped a ${d.byteLength}-byte frame chunk that arrived between rounds`);
    });
    link.onClose((reason) => {
      if (!mine()) return;
      this.drop(peerId, false);
      this.onEvent(peerId, `parked link closed: ${reason}`);
    });
    entry.cancel = this.scheduler.after(keepMs, () => mine() && this.drop(peerId, true));
  }

  /** The parked link to `peerId`, no longer parked (the taker sets its handlers), or null. */
  take(peerId: string): ReusedLink | null {
    const entry = this.parked.get(peerId);
    if (!entry) return null;
    entry.cancel();
    this.parked.delete(peerId);
    return { link: entry.link, pending: entry.pending };
  }

  /** Closes every parked link to a peer not in `peerIds` (they left this page's cohort). */
  keepOnly(peerIds: ReadonlySet<string>): void {
    for (const peerId of [...this.parked.keys()]) if (!peerIds.has(peerId)) this.drop(peerId, true);
  }

  closeAll(): void {
    for (const peerId of [...this.parked.keys()]) this.drop(peerId, true);
  }

  private drop(peerId: string, close: boolean): void {
    const entry = this.parked.get(peerId);
    if (!entry) return;
    this.parked.delete(peerId);
    entry.cancel();
    if (close) entry.link.close();
  }
}
