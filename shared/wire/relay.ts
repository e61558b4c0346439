// Relayed frames on the coordinator's WebSocket (issue 16: a relay costs bandwidth, never
// participation — and no more bandwidth than the frame). `relay` (page → coordinator) and
// `relayed-frame` (coordinator → page) travel as binary WebSocket messages, the frame's bytes as
// they are; every other message is JSON text. Base64 inside JSON cost 4/3 of each relayed frame.
//
//   relay          offset  size  field
//                  0       1     kind = 1
//                  1       4     round (u32 LE)
//                  5       2     n, recipients (u16 LE, 1 … MAX_RELAY_TO)
//                  7       20·n  recipient addresses
//                  …             the page's own update frame (shared/codec.ts)
//   relayed-frame  0       1     kind = 2
//                  1       4     round (u32 LE)
//                  5       4     cohort (u32 LE)
//                  9       20    sender address
//                  29            the sender's frame
//
// The coordinator checks the frame against its run's peer-update limits before forwarding it
// (coordinator/round/engine.ts handleRelay), and the page again before holding it.
import { bytesToHex, hexToBytes, type Address } from 'viem';
import { IdlegradError } from '../errors.ts';

export type RelayMessage = { type: 'relay'; round: number; to: Address[]; frame: Uint8Array };
export type RelayedFrameMessage = { type: 'relayed-frame'; round: number; cohort: number; from: Address; frame: Uint8Array };

const KIND_RELAY = 1;
const KIND_RELAYED = 2;
/** Recipients a relay names at most (a cohort is far smaller). */
export const MAX_RELAY_TO = 1024;
/** The largest frame a relay carries (the coordinator checks the run's own, smaller cap). */
export const MAX_RELAY_FRAME = 3 * 1024 * 1024;
const RELAY_HEAD = 7;
const RELAYED_HEAD = 29;

const bad = (what: string) => new IdlegradError('BAD_MESSAGE', what);

export function encodeRelay(m: Omit<RelayMessage, 'type'>): Uint8Array {
  const out = new Uint8Array(RELAY_HEAD + 20 * m.to.length + m.frame.byteLength);
  const view = new DataView(out.buffer);
  out[0] = KIND_RELAY;
  view.setUint32(1, m.round, true);
  view.setUint16(5, m.to.length, true);
  m.to.forEach((a, i) => out.set(hexToBytes(a), RELAY_HEAD + 20 * i));
  out.set(m.frame, RELAY_HEAD + 20 * m.to.length);
  return out;
}

export function encodeRelayedFrame(m: Omit<RelayedFrameMessage, 'type'>): Uint8Array {
  const out = new Uint8Array(RELAYED_HEAD + m.frame.byteLength);
  const view = new DataView(out.buffer);
  out[0] = KIND_RELAYED;
  view.setUint32(1, m.round, true);
  view.setUint32(5, m.cohort, true);
  out.set(hexToBytes(m.from), 9);
  out.set(m.frame, RELAYED_HEAD);
  return out;
}

function frameAfter(bytes: Uint8Array, at: number, name: string): Uint8Array {
  const len = bytes.byteLength - at;
  if (len < 1 || len > MAX_RELAY_FRAME) throw bad(`${name}.frame: expected 1 to ${MAX_RELAY_FRAME} bytes, got ${Math.max(0, len)}`);
  return bytes.slice(at);
}

/** A binary message from a page: a relay, every field checked before it is read. */
export function decodeRelay(bytes: Uint8Array): RelayMessage {
  if (bytes.byteLength < RELAY_HEAD || bytes[0] !== KIND_RELAY)
    throw bad(`a binary message must be a relay (kind ${KIND_RELAY}, ${RELAY_HEAD}-byte header), got ${bytes.byteLength} bytes of kind ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint16(5, true);
  if (n < 1 || n > MAX_RELAY_TO) throw bad(`relay.to: expected 1 to ${MAX_RELAY_TO} recipients, got ${n}`);
  if (bytes.byteLength < RELAY_HEAD + 20 * n) throw bad(`relay.to: ${n} recipients need ${20 * n} bytes, the message has ${bytes.byteLength - RELAY_HEAD}`);
  const to = Array.from({ length: n }, (_, i) => bytesToHex(bytes.subarray(RELAY_HEAD + 20 * i, RELAY_HEAD + 20 * (i + 1))) as Address);
  return { type: 'relay', round: view.getUint32(1, true), to, frame: frameAfter(bytes, RELAY_HEAD + 20 * n, 'relay') };
}

/** A binary message from the coordinator: a relayed frame. */
export function decodeRelayedFrame(bytes: Uint8Array): RelayedFrameMessage {
  if (bytes.byteLength < RELAYED_HEAD || bytes[0] !== KIND_RELAYED)
    throw bad(
      `a binary message must be a relayed frame (kind ${KIND_RELAYED}, ${RELAYED_HEAD}-byte header), got ${bytes.byteLength} bytes of kind ${bytes[0]}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    type: 'relayed-frame',
    round: view.getUint32(1, true),
    cohort: view.getUint32(5, true),
    from: bytesToHex(bytes.subarray(9, RELAYED_HEAD)) as Address,
    frame: frameAfter(bytes, RELAYED_HEAD, 'relayed-frame'),
  };
}
