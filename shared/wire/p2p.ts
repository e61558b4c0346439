// Peer-to-peer messages over a WebRTC data channel, one link per pair of cohort members:
//   1. text: the CohortHandshake, JSON, signed by the sender's device key (EIP-191 over
//      cohortHandshakeMessage), checked by the receiver against the coordinator's member list;
//   2. binary: the sender's update frame in chunks of at most 16 KiB (a data-channel message
//      over 256 KiB fails, and PeerJS's raw mode does not chunk). The receiver caps the total
//      size from the run spec, not from the sender's claim.
// parsePeerMessage turns what a link delivers into one of the two, at the edge.
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../errors.ts';
import { addr, parseJson, shape, sig, str, u32 } from './parse.ts';

export const P2P_CHUNK_BYTES = 16 * 1024;

/** Chunk header (little-endian), then the payload: a slice of the frame. */
export const P2P_CHUNK = { tag: 0, reserved: 1, round: 4, seq: 8, count: 12, totalBytes: 16, payload: 20 } as const;
const TAG_FRAME_CHUNK = 1;

/** First message on every link, as JSON text. */
export interface CohortHandshake {
  address: Address;
  peerId: string;
  round: number;
  signature: Hex;
}

/** The text cohort members sign to prove their device key to each other over WebRTC. */
export const cohortHandshakeMessage = (run: number, round: number, peerId: string) => `idlegrad cohort\nrun: ${run}\nround: ${round}\npeer: ${peerId}`;

export const encodeHandshake = (h: CohortHandshake): string => JSON.stringify(h);

/** Strict parse of a peer's handshake text; the error names the field. */
export function parseHandshake(text: string): CohortHandshake {
  return shape<CohortHandshake>({ address: addr, peerId: str(64), round: u32, signature: sig })(parseJson(text, 'handshake'), 'handshake');
}

/**
 * A link outlives a round (web/src/client/p2p/link-pool.ts), so both messages name theirs: a
 * chunk's `round` is its header's, read here so a late chunk of round r is refused by round r+1
 * before anything is assembled.
 */
export type PeerMessage = { type: 'handshake'; handshake: CohortHandshake } | { type: 'chunk'; round: number; bytes: Uint8Array };

/** What a link delivered: text is a handshake (parsed here), bytes are a frame chunk (its round read here, the rest checked by FrameAssembler). */
export function parsePeerMessage(data: string | Uint8Array): PeerMessage {
  if (typeof data === 'string') return { type: 'handshake', handshake: parseHandshake(data) };
  if (data.byteLength < P2P_CHUNK.payload || data.byteLength > P2P_CHUNK_BYTES)
    throw new IdlegradError('BAD_FRAME', `p2p chunk of ${data.byteLength} bytes is outside [${P2P_CHUNK.payload}, ${P2P_CHUNK_BYTES}]`);
  return { type: 'chunk', round: new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(P2P_CHUNK.round, true), bytes: data };
}

export function splitFrame(frame: Uint8Array, round: number): Uint8Array[] {
  const payload = P2P_CHUNK_BYTES - P2P_CHUNK.payload;
  const count = Math.max(1, Math.ceil(frame.byteLength / payload));
  const out: Uint8Array[] = [];
  for (let seq = 0; seq < count; seq++) {
    const part = frame.subarray(seq * payload, (seq + 1) * payload);
    const msg = new Uint8Array(P2P_CHUNK.payload + part.byteLength);
    const dv = new DataView(msg.buffer);
    dv.setUint8(P2P_CHUNK.tag, TAG_FRAME_CHUNK);
    dv.setUint32(P2P_CHUNK.round, round, true);
    dv.setUint32(P2P_CHUNK.seq, seq, true);
    dv.setUint32(P2P_CHUNK.count, count, true);
    dv.setUint32(P2P_CHUNK.totalBytes, frame.byteLength, true);
    msg.set(part, P2P_CHUNK.payload);
    out.push(msg);
  }
  return out;
}

/** Reassembles one peer's frame for one round; rejects anything past `maxBytes`. */
export class FrameAssembler {
  private buf: Uint8Array | null = null;
  private received = 0;
  private next = 0;
  private count = 0;

  constructor(
    private readonly round: number,
    private readonly maxBytes: number,
  ) {}

  /** Returns the whole frame when the last chunk arrives, otherwise null. */
  push(chunk: Uint8Array): Uint8Array | null {
    if (chunk.byteLength < P2P_CHUNK.payload || chunk.byteLength > P2P_CHUNK_BYTES) {
      throw new IdlegradError('BAD_FRAME', `p2p chunk of ${chunk.byteLength} bytes is outside [${P2P_CHUNK.payload}, ${P2P_CHUNK_BYTES}]`);
    }
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (dv.getUint8(P2P_CHUNK.tag) !== TAG_FRAME_CHUNK) throw new IdlegradError('BAD_FRAME', `unknown p2p chunk tag ${dv.getUint8(P2P_CHUNK.tag)}`);
    const round = dv.getUint32(P2P_CHUNK.round, true);
    if (round !== this.round) throw new IdlegradError('STALE_ROUND', `p2p chunk for round ${round}, expected ${this.round}`);
    const [seq, count, total] = [dv.getUint32(P2P_CHUNK.seq, true), dv.getUint32(P2P_CHUNK.count, true), dv.getUint32(P2P_CHUNK.totalBytes, true)];
    if (total > this.maxBytes) throw new IdlegradError('LIMIT_EXCEEDED', `peer announced a ${total}-byte frame; the run allows ${this.maxBytes}`);
    if (this.buf === null) {
      if (seq !== 0) throw new IdlegradError('BAD_FRAME', `p2p frame starts at chunk ${seq}, expected 0`);
      this.buf = new Uint8Array(total);
      this.count = count;
    } else if (seq !== this.next || count !== this.count || total !== this.buf.byteLength) {
      throw new IdlegradError('BAD_FRAME', `p2p chunk ${seq}/${count} out of sequence (expected ${this.next}/${this.count})`);
    }
    const payload = chunk.subarray(P2P_CHUNK.payload);
    if (this.received + payload.byteLength > this.buf.byteLength) throw new IdlegradError('LIMIT_EXCEEDED', 'p2p chunks exceed the announced frame size');
    this.buf.set(payload, this.received);
    this.received += payload.byteLength;
    this.next = seq + 1;
    if (this.next < this.count) return null;
    if (this.received !== this.buf.byteLength) throw new IdlegradError('BAD_FRAME', `p2p frame ended at ${this.received} of ${this.buf.byteLength} bytes`);
    return this.buf;
  }
}
