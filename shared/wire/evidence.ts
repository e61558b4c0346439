// Spot-check evidence (DESIGN.md step 8): what a sampled member uploads so a validator
// can redo its round. A frame is C(Δ + e), with e the member's private error-feedback
// residual, so the frame alone cannot be recomputed: each report commits to both residuals,
// residualHash = keccak256(keccak256(e_before) ‖ keccak256(e_after)) (float32 LE), and the
// evidence reveals the frame and, for each residual, either the residual itself or only its
// digest — whatever the validator asked for (`EvidenceNeeds`).
//
// Why two leaves: most of a residual is already known to a validator. e_before is the page's
// e_after of its previous accepted contribution, which the validator holds when it checked
// that one (or zeros, for a page's first contribution); e_after is what re-executing Δ gives,
// e' = Δ + e − decode(C(Δ + e)), when the re-execution is bit-identical to the page's. A digest
// per residual lets the validator check a residual it holds against the commitment without
// the page uploading it; it asks for a residual in full only when it holds no candidate that
// hashes right (coordinator/verify/validator.ts). The upload is 1.8 KiB instead of
// 2 × paramCount × 4 bytes whenever both are known.
// Shared by the browser (which uploads) and the coordinator's validator (which checks).
import { concatHex, type Hex } from 'viem';
import { keccak256 } from '../keccak.ts';
import { IdlegradError } from '../errors.ts';

/** Everything a check compares: the frame and both residuals in full. */
export interface Evidence {
  frame: Uint8Array;
  residualBefore: Float32Array;
  residualAfter: Float32Array;
}

/** A residual in full, or its digest (residualDigest) when the validator did not ask for it. */
export type ResidualPart = Float32Array | Hex;

/** What a member uploads: its frame and each residual, in full or as its digest. */
export interface EvidenceUpload {
  frame: Uint8Array;
  before: ResidualPart;
  after: ResidualPart;
}

/** Which residuals the validator asks for in full (the others travel as digests). */
export interface EvidenceNeeds {
  before: boolean;
  after: boolean;
}

const bytesOf = (e: Float32Array) => new Uint8Array(e.buffer, e.byteOffset, e.byteLength);

/**
 * keccak256 of a residual's float32 LE bytes: one leaf of the residual commitment. js-sha3's keccak
 * (shared/keccak.ts): a residual is paramCount × 4 bytes, and viem's keccak took 331 ms for the MLP's
 * 204 KB against js-sha3's 69 ms (same digest; load 27, 2026-12-06) — a spot check hashes one or
 * two residuals, a page two per contribution.
 */
export function residualDigest(e: ResidualPart): Hex {
  return typeof e === 'string' ? (e.toLowerCase() as Hex) : keccak256(bytesOf(e));
}

/** The residual commitment carried by a report: keccak256(digest(e_b) ‖ digest(e_a)). */
export function residualCommitment(before: ResidualPart, after: ResidualPart): Hex {
  return keccak256(concatHex([residualDigest(before), residualDigest(after)]));
}

const DIGEST_BYTES = 32;
const BEFORE_IN_FULL = 1;
const AFTER_IN_FULL = 2;

/**
 * Evidence upload body: flags (u8: bit 0 e_b in full, bit 1 e_a in full) ‖ e_b or its digest ‖
 * e_a or its digest ‖ frame. The frame's length is what is left after the residual parts.
 */
export function encodeEvidence(e: EvidenceUpload): Uint8Array {
  const part = (p: ResidualPart) => (typeof p === 'string' ? hexBytes(p) : bytesOf(p));
  const b = part(e.before);
  const a = part(e.after);
  const out = new Uint8Array(1 + b.byteLength + a.byteLength + e.frame.byteLength);
  out[0] = (typeof e.before === 'string' ? 0 : BEFORE_IN_FULL) | (typeof e.after === 'string' ? 0 : AFTER_IN_FULL);
  out.set(b, 1);
  out.set(a, 1 + b.byteLength);
  out.set(e.frame, 1 + b.byteLength + a.byteLength);
  return out;
}

/** Parses an upload, every length checked against the run's parameter count before it is sliced. */
export function decodeEvidence(body: Uint8Array, paramCount: number): EvidenceUpload {
  if (body.byteLength < 1) throw new IdlegradError('BAD_FRAME', 'evidence body is empty');
  const flags = body[0];
  if (flags & ~(BEFORE_IN_FULL | AFTER_IN_FULL)) throw new IdlegradError('BAD_FRAME', `evidence flags 0x${flags.toString(16)} name unknown parts`);
  const full = paramCount * 4;
  const lenB = flags & BEFORE_IN_FULL ? full : DIGEST_BYTES;
  const lenA = flags & AFTER_IN_FULL ? full : DIGEST_BYTES;
  const frameLen = body.byteLength - 1 - lenB - lenA;
  if (frameLen <= 0) throw new IdlegradError('BAD_FRAME', `evidence of ${body.byteLength} bytes is shorter than its residual parts (${1 + lenB + lenA} bytes)`);
  const part = (offset: number, len: number, inFull: boolean): ResidualPart =>
    inFull
      ? new Float32Array(body.slice(offset, offset + len).buffer)
      : (`0x${Array.from(body.subarray(offset, offset + len), (x) => x.toString(16).padStart(2, '0')).join('')}` as Hex);
  return {
    before: part(1, lenB, (flags & BEFORE_IN_FULL) !== 0),
    after: part(1 + lenB, lenA, (flags & AFTER_IN_FULL) !== 0),
    frame: body.slice(1 + lenB + lenA),
  };
}

/** What a member uploads for `needs`: the residuals asked for in full, the others as digests. */
export function uploadFor(e: Evidence, needs: EvidenceNeeds): EvidenceUpload {
  return {
    frame: e.frame,
    before: needs.before ? e.residualBefore : residualDigest(e.residualBefore),
    after: needs.after ? e.residualAfter : residualDigest(e.residualAfter),
  };
}

/** Whether an upload holds in full every residual `needs` names. */
export function meetsNeeds(u: EvidenceUpload, needs: EvidenceNeeds): boolean {
  return (!needs.before || typeof u.before !== 'string') && (!needs.after || typeof u.after !== 'string');
}

function hexBytes(h: Hex): Uint8Array {
  const out = new Uint8Array((h.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}
