// A model snapshot (GET /api/runs/:run/snapshot): θ_round and the outer momentum, for a
// volunteer that cannot catch up from published updates. One encoder (the coordinator) and
// one decoder (the page, the virtual volunteer, the ONNX parity check):
//
//   u32 headLength | head: JSON {round, modelHash} (headLength bytes) | zero padding to a
//   multiple of 4 | params f32[paramCount] | momentum f32[paramCount]      (little-endian)
//
// The decoder takes paramCount from the run spec and checks every length before it copies.
import type { Hex } from 'viem';
import { IdlegradError } from '../errors.ts';
import { hex32, parseJson, shape, u32 } from './parse.ts';

export interface Snapshot {
  round: number;
  modelHash: Hex;
  /** θ_round, (paramCount) float32. */
  params: Float32Array;
  /** Outer Nesterov momentum after round − 1, (paramCount) float32. */
  momentum: Float32Array;
}

/** The longest head a decoder reads (a round and a hash need under 100 bytes). */
const MAX_HEAD_BYTES = 4096;
const paramsStart = (headLength: number) => (4 + headLength + 3) & ~3;

export function encodeSnapshot(s: Snapshot): Uint8Array {
  if (s.params.length !== s.momentum.length) throw new RangeError(`encodeSnapshot: ${s.params.length} params but ${s.momentum.length} momentum values`);
  const head = new TextEncoder().encode(JSON.stringify({ round: s.round, modelHash: s.modelHash }));
  const start = paramsStart(head.byteLength);
  const out = new Uint8Array(start + 8 * s.params.length);
  new DataView(out.buffer).setUint32(0, head.byteLength, true);
  out.set(head, 4);
  out.set(new Uint8Array(s.params.buffer, s.params.byteOffset, s.params.byteLength), start);
  out.set(new Uint8Array(s.momentum.buffer, s.momentum.byteOffset, s.momentum.byteLength), start + s.params.byteLength);
  return out;
}

const bad = (msg: string): never => {
  throw new IdlegradError('BAD_FRAME', msg);
};

/** The snapshot of a `paramCount`-parameter model; the arrays are copies (aligned, owned). Throws IdlegradError('BAD_FRAME' | 'BAD_MESSAGE'). */
export function decodeSnapshot(bytes: Uint8Array, paramCount: number): Snapshot {
  if (bytes.byteLength < 4) bad(`snapshot of ${bytes.byteLength} bytes is shorter than its length prefix`);
  const headLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (headLength > MAX_HEAD_BYTES || 4 + headLength > bytes.byteLength)
    bad(`snapshot head of ${headLength} bytes is implausible for ${bytes.byteLength} bytes`);
  const head = shape<{ round: number; modelHash: Hex }>({ round: u32, modelHash: hex32 })(
    parseJson(new TextDecoder().decode(bytes.subarray(4, 4 + headLength)), 'snapshot head'),
    'snapshot',
  );
  const start = paramsStart(headLength);
  const expected = start + 8 * paramCount;
  if (bytes.byteLength !== expected) bad(`snapshot is ${bytes.byteLength} bytes, a ${paramCount}-parameter model needs ${expected}`);
  const at = bytes.byteOffset + start;
  return {
    ...head,
    params: new Float32Array(bytes.buffer.slice(at, at + 4 * paramCount)),
    momentum: new Float32Array(bytes.buffer.slice(at + 4 * paramCount, at + 8 * paramCount)),
  };
}
