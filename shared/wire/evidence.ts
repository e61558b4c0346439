// Spot-check evidence (DESIGN.md step 8): what a sampled member uploads so a validator
// can redo its round. A frame is C(Δ + e), with e the member's private error-feedback
// residual, so the frame alone cannot be recomputed: each report commits to
// keccak256(e_before ‖ e_after), and the evidence reveals both residuals and the frame.
// Shared by the browser (which uploads) and the coordinator's validator (which checks).
import { keccak256, type Hex } from 'viem';
import { IdlegradError } from '../errors.ts';

export interface Evidence {
  frame: Uint8Array;
  residualBefore: Float32Array;
  residualAfter: Float32Array;
}

/** The residual commitment carried by a report: keccak256(e_b ‖ e_a), float32 LE. */
export function residualCommitment(before: Float32Array, after: Float32Array): Hex {
  const bytes = new Uint8Array(before.byteLength + after.byteLength);
  bytes.set(new Uint8Array(before.buffer, before.byteOffset, before.byteLength), 0);
  bytes.set(new Uint8Array(after.buffer, after.byteOffset, after.byteLength), before.byteLength);
  return keccak256(bytes);
}

/** Evidence upload body: frame ‖ e_b ‖ e_a. The frame's length is what is left after the residuals. */
export function encodeEvidence(e: Evidence): Uint8Array {
  const n = e.residualBefore.byteLength;
  const out = new Uint8Array(e.frame.byteLength + 2 * n);
  out.set(e.frame, 0);
  out.set(new Uint8Array(e.residualBefore.buffer, e.residualBefore.byteOffset, n), e.frame.byteLength);
  out.set(new Uint8Array(e.residualAfter.buffer, e.residualAfter.byteOffset, n), e.frame.byteLength + n);
  return out;
}

export function decodeEvidence(body: Uint8Array, paramCount: number): Evidence {
  const n = paramCount * 4;
  const frameLen = body.byteLength - 2 * n;
  if (frameLen <= 0) throw new IdlegradError('BAD_FRAME', `evidence of ${body.byteLength} bytes is shorter than the two residuals (${2 * n} bytes)`);
  const copy = body.slice(frameLen);
  return {
    frame: body.slice(0, frameLen),
    residualBefore: new Float32Array(copy.buffer, 0, paramCount),
    residualAfter: new Float32Array(copy.buffer, n, paramCount),
  };
}
