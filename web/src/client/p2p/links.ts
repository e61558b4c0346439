// One data link to one cohort member, as the exchange sees it (PeerJS adapts to it in
// peer-net.ts, tests use in-memory links), and sending a frame's chunks over it with
// event-driven backpressure.
import { IdlegradError } from '../../../../shared/errors.ts';

/** The part of RTCDataChannel that backpressure needs. */
export interface ChannelLike {
  bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  addEventListener(type: 'bufferedamountlow' | 'close', fn: () => void): void;
  removeEventListener(type: 'bufferedamountlow' | 'close', fn: () => void): void;
}

/** One data connection to one remote peer, as the exchange sees it. */
export interface PeerLink {
  /** The remote peer id as the signalling server reported it. */
  readonly remotePeerId: string;
  /** Null until the link is open. */
  readonly channel: ChannelLike | null;
  send(data: string | Uint8Array): void;
  close(): void;
  /** Each is set once by the exchange; events that happened earlier are replayed. */
  onOpen(fn: () => void): void;
  onData(fn: (data: string | Uint8Array) => void): void;
  onClose(fn: (reason: string) => void): void;
}

export interface Backpressure {
  /** Stop queuing while the channel buffers more than this many bytes. Default 1 MiB. */
  highWaterBytes: number;
  /** Resume at this level ('bufferedamountlow'). Default 256 KiB. */
  lowWaterBytes: number;
}

export const DEFAULT_BACKPRESSURE: Backpressure = { highWaterBytes: 1 << 20, lowWaterBytes: 1 << 18 };

/** Whether this peer dials `other` (the lexicographically smaller peer id dials). */
export const dialsTo = (self: string, other: string) => self < other;

/**
 * Sends chunks in order, pausing on 'bufferedamountlow' whenever the channel holds more
 * than the high-water mark (never a timer poll). Rejects if the channel closes while paused.
 */
export async function sendChunks(
  link: Pick<PeerLink, 'send' | 'channel'>,
  chunks: Uint8Array[],
  bp: Backpressure = DEFAULT_BACKPRESSURE,
  onSent?: (bytes: number) => void,
  isCancelled: () => boolean = () => false,
): Promise<void> {
  const ch = link.channel;
  if (!ch) throw new IdlegradError('PEER_TIMEOUT', 'link is not open');
  ch.bufferedAmountLowThreshold = bp.lowWaterBytes;
  for (const chunk of chunks) {
    if (isCancelled()) throw new IdlegradError('PEER_TIMEOUT', 'send cancelled');
    if (ch.bufferedAmount > bp.highWaterBytes) await drained(ch);
    if (isCancelled()) throw new IdlegradError('PEER_TIMEOUT', 'send cancelled');
    link.send(chunk);
    onSent?.(chunk.byteLength);
  }
}

function drained(ch: ChannelLike): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      ch.removeEventListener('bufferedamountlow', low);
      ch.removeEventListener('close', closed);
    };
    const low = () => (cleanup(), resolve());
    const closed = () => (cleanup(), reject(new IdlegradError('PEER_TIMEOUT', 'channel closed while draining')));
    ch.addEventListener('bufferedamountlow', low);
    ch.addEventListener('close', closed);
  });
}
