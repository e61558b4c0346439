// The inner AdamW state as spot-check evidence (run setting inner.state 'kept', issue 15). A page
// that keeps its optimizer's moments across rounds trains round r from (m_b, v_b, t_b), the state
// at the end of its previous round, so a validator can redo the round only from that state; it is
// committed like the error-feedback residual (shared/wire/evidence.ts):
//   residualHash = keccak256(root(e_b) ‖ root(e_a) ‖ stateDigest(b) ‖ stateDigest(a))
//   stateDigest  = keccak256(t as u32 BE ‖ momentsDigest),  momentsDigest = keccak256(m ‖ v)
// (m, v float32 LE, paramCount values each). A sampled member uploads the state before in full
// (4 + 8 × paramCount bytes: 407,124 for the MLP; the re-execution starts from it) and the state
// after as its t and momentsDigest (36 bytes): the validator re-executes within float drift of the
// page, never bit for bit, so it could not compare the moments after exactly anyway. What binds the
// state after is the chain (coordinator/verify/validator.ts): the next check of the identity
// requires its state before to be the state after the validator saw here. t is in the clear so
// that t_a = t_b + steps is checked without the moments.
import { bytesToHex, concatHex, numberToHex, type Hex } from 'viem';
import type { AdamWState } from '../mlp.ts';
import { keccak256, keccak256Parts } from '../keccak.ts';
import { IdlegradError } from '../errors.ts';

/** A state after a round as the evidence carries it: its step count and the digest of its moments. */
export interface StateAfterPart {
  t: number;
  moments: Hex;
}

/** The inner state a sampled member uploads: the state before in full, the state after as a digest. */
export interface InnerStateEvidence {
  before: AdamWState;
  after: StateAfterPart;
}

/** The largest step count a state may claim (u32 on the wire; 2^31 − 1 keeps it a safe small integer). */
export const MAX_STATE_T = 2 ** 31 - 1;
const DIGEST_BYTES = 32;

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** keccak256(m ‖ v), float32 LE. */
export function momentsDigest(s: Pick<AdamWState, 'm' | 'v'>): Hex {
  return keccak256Parts([bytesOf(s.m), bytesOf(s.v)]);
}

/** keccak256(t as u32 BE ‖ momentsDigest): what the commitment holds for one state. */
export function stateDigest(t: number, moments: Hex): Hex {
  return keccak256(concatHex([numberToHex(t, { size: 4 }), moments]));
}

/** stateDigest of a state in full. */
export const innerStateDigest = (s: AdamWState): Hex => stateDigest(s.t, momentsDigest(s));

/** The digests of both states of an upload, as the commitment takes them. */
export function stateDigests(e: InnerStateEvidence): { before: Hex; after: Hex } {
  return { before: innerStateDigest(e.before), after: stateDigest(e.after.t, e.after.moments) };
}

/** A zero state of `paramCount` values: a page's first round, or its first after a reload. */
export const zeroInnerState = (paramCount: number): AdamWState => ({ m: new Float32Array(paramCount), v: new Float32Array(paramCount), t: 0 });

/**
 * Why `s` cannot be an AdamW state of a `paramCount`-value model, or null when it can: the moments'
 * lengths, a step count that is an integer in [0, MAX_STATE_T], finite moments, a second moment that
 * is never negative (an EMA of squares), and zeros at t = 0 (no step taken, nothing accumulated).
 */
export function innerStateProblem(s: AdamWState, paramCount: number): string | null {
  if (s.m.length !== paramCount || s.v.length !== paramCount)
    return `the inner state holds ${s.m.length} and ${s.v.length} moments; the model has ${paramCount} parameters`;
  if (!(Number.isInteger(s.t) && s.t >= 0 && s.t <= MAX_STATE_T)) return `the inner state's step count ${s.t} is not an integer in [0, ${MAX_STATE_T}]`;
  for (let i = 0; i < paramCount; i++) {
    if (!Number.isFinite(s.m[i]) || !Number.isFinite(s.v[i])) return `the inner state holds NaN or Inf (parameter ${i})`;
    if (s.v[i] < 0) return `the inner state's second moment is negative at parameter ${i} (${s.v[i]})`;
    if (s.t === 0 && (s.m[i] !== 0 || s.v[i] !== 0)) return `the inner state has taken no step (t = 0) but holds a non-zero moment at parameter ${i}`;
  }
  return null;
}

/** Bytes of the state section of an evidence body. */
export const innerStateBytes = (paramCount: number) => 4 + 8 * paramCount + 4 + DIGEST_BYTES;

/** The state section: t_b (u32 LE), m_b, v_b (float32 LE), t_a (u32 LE), momentsDigest_a. */
export function encodeInnerState(e: InnerStateEvidence): Uint8Array {
  const P = e.before.m.length;
  if (e.before.v.length !== P) throw new IdlegradError('BAD_FRAME', `the inner state holds ${P} first and ${e.before.v.length} second moments`);
  const out = new Uint8Array(innerStateBytes(P));
  const view = new DataView(out.buffer);
  view.setUint32(0, e.before.t, true);
  out.set(bytesOf(e.before.m), 4);
  out.set(bytesOf(e.before.v), 4 + 4 * P);
  view.setUint32(4 + 8 * P, e.after.t, true);
  out.set(hexBytes(e.after.moments), 8 + 8 * P);
  return out;
}

/**
 * The state section at `at` of `body`, its length checked against the run's parameter count before
 * anything is sliced; returns it and where the section ends. Values are not judged here
 * (innerStateProblem: the check refuses a malformed state it was committed to, naming why).
 */
export function decodeInnerState(body: Uint8Array, at: number, paramCount: number): [InnerStateEvidence, number] {
  const end = at + innerStateBytes(paramCount);
  if (end > body.byteLength)
    throw new IdlegradError(
      'BAD_FRAME',
      `evidence of ${body.byteLength} bytes is shorter than its inner state (${end} bytes needed: the state before of ${paramCount} parameters in full, the state after's digest)`,
    );
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const P = paramCount;
  const before: AdamWState = {
    t: view.getUint32(at, true),
    m: new Float32Array(body.slice(at + 4, at + 4 + 4 * P).buffer),
    v: new Float32Array(body.slice(at + 4 + 4 * P, at + 4 + 8 * P).buffer),
  };
  const after: StateAfterPart = { t: view.getUint32(at + 4 + 8 * P, true), moments: bytesToHex(body.subarray(at + 8 + 8 * P, end)) };
  return [{ before, after }, end];
}

function hexBytes(h: Hex): Uint8Array {
  if (!/^0x[0-9a-fA-F]{64}$/.test(h)) throw new IdlegradError('BAD_FRAME', `a moments digest is 32 bytes of hex, not ${JSON.stringify(h)}`);
  const out = new Uint8Array(DIGEST_BYTES);
  for (let i = 0; i < DIGEST_BYTES; i++) out[i] = parseInt(h.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}
