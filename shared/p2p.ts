// Peer-to-peer wire format over WebRTC data channels. Frames are split into chunks of
// at most 16 KiB (a data-channel message over 256 KiB fails, and PeerJS's raw mode
// does not chunk); the receiver caps the total size from the run spec, not from the
// sender's claim.
//
// Chunk (little-endian):  0 u8 tag=1 | 1 u8 reserved | 2 u16 reserved | 4 u32 round |
//                         8 u32 seq | 12 u32 count | 16 u32 totalBytes | 20 payload
import { IdlegradError } from './errors.ts';
import { frameBytes, riceBits, riceFrameBytes, type IndexCoding, type ValueBits } from './codec.ts';

export const P2P_CHUNK_BYTES = 16 * 1024;
const CHUNK_HEADER = 20;
const TAG_FRAME_CHUNK = 1;

export function splitFrame(frame: Uint8Array, round: number): Uint8Array[] {
  const payload = P2P_CHUNK_BYTES - CHUNK_HEADER;
  const count = Math.max(1, Math.ceil(frame.byteLength / payload));
  const out: Uint8Array[] = [];
  for (let seq = 0; seq < count; seq++) {
    const part = frame.subarray(seq * payload, (seq + 1) * payload);
    const msg = new Uint8Array(CHUNK_HEADER + part.byteLength);
    const dv = new DataView(msg.buffer);
    dv.setUint8(0, TAG_FRAME_CHUNK);
    dv.setUint32(4, round, true);
    dv.setUint32(8, seq, true);
    dv.setUint32(12, count, true);
    dv.setUint32(16, frame.byteLength, true);
    msg.set(part, CHUNK_HEADER);
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
    if (chunk.byteLength < CHUNK_HEADER || chunk.byteLength > P2P_CHUNK_BYTES) {
      throw new IdlegradError('BAD_FRAME', `p2p chunk of ${chunk.byteLength} bytes is outside [${CHUNK_HEADER}, ${P2P_CHUNK_BYTES}]`);
    }
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (dv.getUint8(0) !== TAG_FRAME_CHUNK) throw new IdlegradError('BAD_FRAME', `unknown p2p chunk tag ${dv.getUint8(0)}`);
    const round = dv.getUint32(4, true);
    if (round !== this.round) throw new IdlegradError('STALE_ROUND', `p2p chunk for round ${round}, expected ${this.round}`);
    const [seq, count, total] = [dv.getUint32(8, true), dv.getUint32(12, true), dv.getUint32(16, true)];
    if (total > this.maxBytes) throw new IdlegradError('LIMIT_EXCEEDED', `peer announced a ${total}-byte frame; the run allows ${this.maxBytes}`);
    if (this.buf === null) {
      if (seq !== 0) throw new IdlegradError('BAD_FRAME', `p2p frame starts at chunk ${seq}, expected 0`);
      this.buf = new Uint8Array(total);
      this.count = count;
    } else if (seq !== this.next || count !== this.count || total !== this.buf.byteLength) {
      throw new IdlegradError('BAD_FRAME', `p2p chunk ${seq}/${count} out of sequence (expected ${this.next}/${this.count})`);
    }
    const payload = chunk.subarray(CHUNK_HEADER);
    if (this.received + payload.byteLength > this.buf.byteLength) throw new IdlegradError('LIMIT_EXCEEDED', 'p2p chunks exceed the announced frame size');
    this.buf.set(payload, this.received);
    this.received += payload.byteLength;
    this.next = seq + 1;
    if (this.next < this.count) return null;
    if (this.received !== this.buf.byteLength) throw new IdlegradError('BAD_FRAME', `p2p frame ended at ${this.received} of ${this.buf.byteLength} bytes`);
    return this.buf;
  }
}

/** Upper bound on an update frame's size for a run, used as the p2p cap. */
export function maxUpdateFrameBytes(paramCount: number, chunkSize: number, maxK: number, bits: ValueBits, indexCoding: IndexCoding = 'u16'): number {
  const chunks = Math.ceil(paramCount / chunkSize);
  const k = chunks * maxK;
  const u16 = frameBytes(chunks, k, k, bits);
  if (indexCoding === 'u16') return u16;
  // A Rice stream holds, per chunk of ck values, ck·(r + 1) bits plus its unary parts, which
  // sum to at most (len − 1) >> r: the largest over every ck a valid frame may declare.
  let streamBits = 0;
  for (let c = 0; c < chunks; c++) {
    const len = Math.min(chunkSize, paramCount - c * chunkSize);
    let most = 0;
    for (let ck = 1; ck <= Math.min(maxK, len - 1); ck++) {
      const r = riceBits(len, ck);
      most = Math.max(most, ck * (r + 1) + ((len - 1) >> r));
    }
    streamBits += most;
  }
  return Math.max(u16, riceFrameBytes(chunks, k, Math.ceil(streamBits / 8), bits));
}
