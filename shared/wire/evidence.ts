// Spot-check evidence (DESIGN.md step 8): what a sampled member uploads so a validator
// can redo its round. A frame is C(Δ + e), with e the member's private error-feedback
// residual, so the frame alone cannot be recomputed: each report commits to both residuals,
// residualHash = keccak256(root(e_before) ‖ root(e_after)), root = the Merkle root of the
// residual's float32 LE bytes cut into leaves of RESIDUAL_LEAF values, and the evidence reveals
// the frame and, for each residual, whatever the validator asked for (`EvidenceNeeds`): the
// residual in full, or its root with the sampled leaves and one Merkle multiproof for them all
// (each sibling hash sent once, none that the opened leaves compute themselves).
//
// Why sampled leaves (issue 16: a round costs a peer about a frame up, not a dense model): a
// residual is the model's size (203,560 bytes for the MLP), and WebGPU work is re-executed
// within float drift of the page, never bit for bit, so the validator cannot derive the
// page's e_after and used to ask for it in full at every check — 83 KB a peer a round in an
// 8-round swarm where new identities are checked at rate 1. Cheating that saves work (zeros,
// noise, fewer steps, an old model, another's shard) changes Δ everywhere, so the work check
// Δ_claimed = decode(F) + e_a − e_b ≈ Δ_ref on a few leaves the validator draws after the
// commitment catches it as surely as on all of them; the committed roots bind the opened
// leaves to the residuals the report named. The codec check (F = C(e_b + Δ_ref)) needs e_b in
// full: the validator holds it (zeros, a residual it derived or was sent, or its own float
// approximation of the member's chain, coordinator/verify/validator.ts) or asks for it.
// With the run setting inner.state 'kept' the commitment also holds the inner AdamW state before
// and after the round, and the upload its state section (shared/wire/inner-state.ts).
// Shared by the browser (which uploads) and the coordinator's validator (which checks).
import { bytesToHex, concatHex, type Hex } from 'viem';
import { keccak256, keccak256Bytes } from '../keccak.ts';
import { IdlegradError } from '../errors.ts';
import { decodeInnerState, encodeInnerState, stateDigests, type InnerStateEvidence } from './inner-state.ts';

/**
 * Values in a leaf of a residual's Merkle tree (the last leaf may be shorter). 64 values (256
 * bytes) and a proof of ⌈log2(leaves)⌉ × 32 bytes (10 for the MLP's 796 leaves): one opened leaf
 * costs about 580 bytes. Eight leaves' paths share their top levels, so their multiproof holds
 * about 47 hashes where eight separate proofs held 79 (1,500 bytes instead of 2,530 a residual,
 * 53 at most over 2,000 random draws), where the residuals in full are 407,120.
 */
export const RESIDUAL_LEAF = 64;
/**
 * The most leaves a validator asks a residual to be opened at: the 8 sampled leaves and, when the
 * validator does not hold e_b (its chain broke), every leaf of one codec chunk besides (64 for the
 * MLP's chunks of 4,096 values, 16 for the GPT presets' 1,024), so the codec check can run on that
 * chunk without e_b in full (Validator.needsAtSampling).
 */
export const MAX_ASKED_LEAVES = 128;
const DIGEST_BYTES = 32;

/** One opened leaf: its index and its values. */
export interface ResidualLeaf {
  index: number;
  values: Float32Array;
}

/**
 * Some leaves of a residual of `paramCount` values (indices strictly increasing) and their
 * multiproof: the sibling hashes their paths to the root need and do not compute themselves,
 * 32 bytes each, level by level from the leaves, left to right within a level (multiproofNodes).
 */
export interface ResidualOpening {
  paramCount: number;
  leaves: ResidualLeaf[];
  proof: Uint8Array;
}

/** Everything a check compares: the frame and both residuals in full (and the inner state, run setting inner.state 'kept'). */
export interface Evidence {
  frame: Uint8Array;
  residualBefore: Float32Array;
  residualAfter: Float32Array;
  state?: InnerStateEvidence;
}

/** A residual in full, its root (residualDigest) alone, or its root proved by the sampled leaves. */
export type ResidualPart = Float32Array | Hex | ResidualOpening;

/** What a member uploads: its frame and each residual, in full, as its root, or opened at the sampled leaves. */
export interface EvidenceUpload {
  frame: Uint8Array;
  before: ResidualPart;
  after: ResidualPart;
  /** The inner AdamW state (run setting inner.state 'kept'): before in full, after as its digest. */
  state?: InnerStateEvidence;
}

/**
 * What the validator asks for: the residuals it wants in full, and the leaves (indices,
 * strictly increasing) at which a residual not asked in full is opened; with no leaves such a
 * residual travels as its root alone.
 */
export interface EvidenceNeeds {
  before: boolean;
  after: boolean;
  leaves: number[];
}

const bytesOf = (e: Float32Array) => new Uint8Array(e.buffer, e.byteOffset, e.byteLength);

/** Leaves in the Merkle tree of a residual of `paramCount` values. */
export const residualLeafCount = (paramCount: number) => Math.ceil(paramCount / RESIDUAL_LEAF);

/** The values of leaf `index`: [start, end). */
export function leafRange(index: number, paramCount: number): [number, number] {
  const start = index * RESIDUAL_LEAF;
  return [start, Math.min(paramCount, start + RESIDUAL_LEAF)];
}

/**
 * Sibling hashes on leaf `index`'s path to the root in a tree of `leafCount` leaves. Each
 * level pairs nodes left to right, node = keccak256(left ‖ right); an odd last node is carried up
 * unchanged, so it has no sibling at that level.
 */
export function proofLength(index: number, leafCount: number): number {
  return multiproofNodes([index], leafCount).length;
}

/**
 * The nodes, as [level, index], whose hashes the multiproof of the leaves `indices` (strictly
 * increasing, each < leafCount) carries, in the order it carries them: level by level from the
 * leaves, left to right; a sibling that is itself on an opened path is computed, not carried.
 */
export function multiproofNodes(indices: readonly number[], leafCount: number): [number, number][] {
  const out: [number, number][] = [];
  let nodes = [...indices];
  for (let level = 0, len = leafCount; len > 1; level++, len = Math.ceil(len / 2)) {
    const on = new Set(nodes);
    for (const i of nodes) if ((i ^ 1) < len && !on.has(i ^ 1)) out.push([level, i ^ 1]);
    nodes = [...new Set(nodes.map((i) => i >> 1))];
  }
  return out;
}

function pairHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const both = new Uint8Array(2 * DIGEST_BYTES);
  both.set(left, 0);
  both.set(right, DIGEST_BYTES);
  return keccak256Bytes(both);
}

/**
 * A residual's Merkle tree: every level, leaves first, each level's nodes as one flat buffer of
 * 32-byte hashes (level l, node i at bytes [32i, 32i + 32)). Building it hashes every value
 * (js-sha3's keccak: 83.4 MiB for gpt-small's two residuals took 33 s on a page's main thread at
 * load 20), so a page builds it once, when its report commits to the residual, and keeps it with
 * the residual until the round's evidence can no longer be asked (web/src/client/round/evidence.ts):
 * opening sampled leaves then reads the kept tree instead of rehashing the residual.
 */
export class ResidualTree {
  private constructor(
    /** The array the tree was built over (the tree serves this array only). */
    readonly values: Float32Array,
    private readonly levels: Uint8Array[],
  ) {}

  static build(e: Float32Array): ResidualTree {
    return new ResidualTree(e, ResidualTree.levelsOf(e));
  }

  /**
   * Every level of `e`'s tree, leaves first: what `build` keeps. A page computes them on its
   * training worker over a copy of `e` (web/src/client/round/evidence.ts), so that the seconds of
   * hashing never hold the main thread, where PeerJS's signalling heartbeat and the round's
   * sockets run (issue 18: the fifth gpt-small swarm's pages all lost the signalling server).
   */
  static levelsOf(e: Float32Array): Uint8Array[] {
    if (e.length === 0) throw new IdlegradError('BAD_FRAME', 'a residual has at least one value');
    const bytes = bytesOf(e);
    const count = residualLeafCount(e.length);
    const leaves = new Uint8Array(DIGEST_BYTES * count);
    for (let i = 0; i < count; i++) {
      const [a, b] = leafRange(i, e.length);
      leaves.set(keccak256Bytes(bytes.subarray(4 * a, 4 * b)), DIGEST_BYTES * i);
    }
    const levels = [leaves];
    for (let level = leaves, len = count; len > 1;) {
      const upLen = Math.ceil(len / 2);
      const up = new Uint8Array(DIGEST_BYTES * upLen);
      for (let i = 0; i < upLen; i++)
        up.set(2 * i + 1 < len ? keccak256Bytes(level.subarray(DIGEST_BYTES * 2 * i, DIGEST_BYTES * (2 * i + 2))) : node(level, 2 * i), DIGEST_BYTES * i);
      levels.push(up);
      level = up;
      len = upLen;
    }
    return levels;
  }

  /**
   * `e`'s tree from `levels` computed elsewhere (levelsOf over a copy of `e`). Checked: every
   * level's size, and the first and last leaves against `e`'s values (so levels of another array
   * or length are refused, naming why); the rest is trusted as the page's own computation.
   */
  static over(e: Float32Array, levels: Uint8Array[]): ResidualTree {
    const count = residualLeafCount(e.length);
    let len = count;
    for (const [l, level] of levels.entries()) {
      if (level.byteLength !== DIGEST_BYTES * len)
        throw new IdlegradError(
          'BAD_FRAME',
          `residual tree level ${l} holds ${level.byteLength} bytes; ${len} nodes of a ${e.length}-value residual need ${DIGEST_BYTES * len}`,
        );
      len = Math.ceil(len / 2);
    }
    let depth = 1;
    for (let n = count; n > 1; n = Math.ceil(n / 2)) depth++;
    if (levels.length !== depth) throw new IdlegradError('BAD_FRAME', `residual tree has ${levels.length} levels; a ${e.length}-value residual's has ${depth}`);
    const tree = new ResidualTree(e, levels);
    if (!tree.serves(e, [0, count - 1])) throw new IdlegradError('BAD_FRAME', 'residual tree levels were not computed over these values (a leaf differs)');
    return tree;
  }

  get paramCount(): number {
    return this.values.length;
  }

  get root(): Hex {
    return bytesToHex(this.levels[this.levels.length - 1]);
  }

  /** Node i of level l (level 0: the leaves). */
  node(level: number, i: number): Uint8Array {
    return node(this.levels[level], i);
  }

  /**
   * Whether this tree is `e`'s for an opening at `leaves`: built over this very array, which still
   * holds its length (not handed to a worker) and, at each opened leaf, values that hash to the
   * kept leaf. A residual changed anywhere an opening reveals is caught here; a change elsewhere
   * cannot alter what the opening proves (the kept root and the revealed values).
   */
  serves(e: Float32Array, leaves: readonly number[]): boolean {
    if (e !== this.values || e.length === 0) return false;
    const bytes = bytesOf(e);
    return leaves.every((i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < residualLeafCount(e.length))) return false;
      const [a, b] = leafRange(i, e.length);
      const h = keccak256Bytes(bytes.subarray(4 * a, 4 * b));
      return h.every((x, k) => x === this.levels[0][DIGEST_BYTES * i + k]);
    });
  }
}

const node = (level: Uint8Array, i: number) => level.subarray(DIGEST_BYTES * i, DIGEST_BYTES * (i + 1));

/** Whether two float32 arrays hold the same bits (-0 is not 0; a NaN equals itself): milliseconds where a tree costs seconds. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** The Merkle root of a residual (js-sha3's keccak, shared/keccak.ts: a page hashes two residuals a contribution). */
export function residualRoot(e: Float32Array): Hex {
  return ResidualTree.build(e).root;
}

/** Refused unless `indices` strictly increase within [0, leafCount). */
function checkIndices(indices: readonly number[], leafCount: number): void {
  indices.forEach((index, k) => {
    if (!(Number.isInteger(index) && index >= 0 && index < leafCount))
      throw new IdlegradError('BAD_FRAME', `leaf ${index} is outside the residual's ${leafCount} leaves`);
    if (k > 0 && index <= indices[k - 1]) throw new IdlegradError('BAD_FRAME', `leaf indices must strictly increase (${indices[k - 1]}, then ${index})`);
  });
}

/**
 * The residual opened at `leaves` (strictly increasing): their values and their multiproof, read
 * from `kept` when that tree serves `e` at these leaves (ResidualTree.serves), else from a tree
 * built now.
 */
export function openResidual(e: Float32Array, leaves: readonly number[], kept?: ResidualTree): ResidualOpening {
  const tree = kept?.serves(e, leaves) ? kept : ResidualTree.build(e);
  const leafCount = residualLeafCount(e.length);
  checkIndices(leaves, leafCount);
  const nodes = multiproofNodes(leaves, leafCount);
  const proof = new Uint8Array(DIGEST_BYTES * nodes.length);
  nodes.forEach(([level, i], k) => proof.set(tree.node(level, i), DIGEST_BYTES * k));
  return {
    paramCount: e.length,
    leaves: leaves.map((index) => {
      const [a, b] = leafRange(index, e.length);
      return { index, values: e.slice(a, b) };
    }),
    proof,
  };
}

/** The root the opened leaves and their multiproof lead to (the same walk as multiproofNodes). */
function rootOfOpening(o: ResidualOpening, leafCount: number): Uint8Array {
  checkIndices(
    o.leaves.map((l) => l.index),
    leafCount,
  );
  const want =
    DIGEST_BYTES *
    multiproofNodes(
      o.leaves.map((l) => l.index),
      leafCount,
    ).length;
  if (o.proof.byteLength !== want) throw new IdlegradError('BAD_FRAME', `a multiproof of these leaves holds ${want} bytes, not ${o.proof.byteLength}`);
  let nodes = new Map(o.leaves.map((l) => [l.index, keccak256Bytes(bytesOf(l.values))]));
  let p = 0;
  const carried = () => o.proof.subarray(DIGEST_BYTES * p, DIGEST_BYTES * ++p);
  for (let len = leafCount; len > 1; len = Math.ceil(len / 2)) {
    const up = new Map<number, Uint8Array>();
    for (const [i, h] of nodes) {
      if (up.has(i >> 1)) continue;
      const s = i ^ 1;
      const sibling = s >= len ? null : (nodes.get(s) ?? carried());
      up.set(i >> 1, sibling === null ? h : i & 1 ? pairHash(sibling, h) : pairHash(h, sibling));
    }
    nodes = up;
  }
  return nodes.values().next().value!;
}

/** Whether a residual part came opened at some leaves (not in full, not as its root alone). */
export const isOpening = (p: ResidualPart): p is ResidualOpening => typeof p !== 'string' && !(p instanceof Float32Array);

/**
 * A residual's root: computed from the values, given, or proved by the opened leaves and their
 * multiproof (a multiproof of the wrong length for its leaves is refused: BAD_FRAME).
 */
export function residualDigest(e: ResidualPart): Hex {
  if (typeof e === 'string') return e.toLowerCase() as Hex;
  if (e instanceof Float32Array) return residualRoot(e);
  if (e.leaves.length === 0) throw new IdlegradError('BAD_FRAME', 'a residual opening opens no leaf');
  return bytesToHex(rootOfOpening(e, residualLeafCount(e.paramCount)));
}

/**
 * The two hashes a spot check's evidence upload must match (coordinator/verify/evidence-desk.ts):
 * its frame's hash (`hashFrame`: shared/codec.ts hashFrame or what returns the same) and the
 * residual commitment of its two parts. A part uploaded in full is Merkle-hashed here (41.7 MiB at
 * gpt-small: seconds of keccak), which is why the coordinator runs this on its upload thread. A
 * body that does not parse is refused as decodeEvidence refuses it.
 */
export function evidenceDigests(body: Uint8Array, paramCount: number, hashFrame: (bytes: Uint8Array) => Hex): EvidenceDigests {
  const e = decodeEvidence(body, paramCount);
  const beforeDigest = residualDigest(e.before);
  const afterDigest = residualDigest(e.after);
  const state = e.state && stateDigests(e.state);
  return {
    frameHash: hashFrame(e.frame),
    residualHash: residualCommitment(beforeDigest, afterDigest, state),
    beforeDigest,
    afterDigest,
    ...(state ? { state } : {}),
  };
}

/**
 * An evidence upload's hashes: its frame's, its residual commitment, and the two residuals' roots
 * that commitment is made of — carried with the upload to the check, so that a residual sent in
 * full (41.7 MiB at gpt-small) is Merkle-hashed once, on the upload thread, not again on the
 * re-execution thread.
 */
export interface EvidenceDigests {
  frameHash: Hex;
  residualHash: Hex;
  beforeDigest: Hex;
  afterDigest: Hex;
  /** The inner state's digests (shared/wire/inner-state.ts stateDigest), when the upload carries it. */
  state?: { before: Hex; after: Hex };
}

/**
 * The residual commitment carried by a report: keccak256(root(e_b) ‖ root(e_a)), or, with the inner
 * state kept (`state`: its stateDigests), keccak256(root(e_b) ‖ root(e_a) ‖ stateDigest_b ‖ stateDigest_a).
 */
export function residualCommitment(before: ResidualPart, after: ResidualPart, state?: { before: Hex; after: Hex }): Hex {
  return keccak256(concatHex([residualDigest(before), residualDigest(after), ...(state ? [state.before, state.after] : [])]));
}

/** The leaves a part gives exactly: null for a residual in full (all of them), [] for a root alone. */
export function exactLeaves(p: ResidualPart): number[] | null {
  if (p instanceof Float32Array) return null;
  return isOpening(p) ? p.leaves.map((l) => l.index) : [];
}

/** `base` with the opened leaves' values written over it (a copy). */
export function withOpenedLeaves(base: Float32Array, opening: ResidualOpening): Float32Array {
  const out = base.slice();
  for (const leaf of opening.leaves) out.set(leaf.values, leaf.index * RESIDUAL_LEAF);
  return out;
}

// Upload body: one byte of modes (bits 0–1 e_b, bits 2–3 e_a: 0 its root, 1 in full, 2 opened;
// bit 4: an inner state section follows the residuals), e_b's part, e_a's part, the inner state
// section when bit 4 is set (shared/wire/inner-state.ts encodeInnerState), then the frame (what is left). An opened part is u16 leaf count, then
// per leaf u32 index and its values (float32 LE), then the multiproof (multiproofNodes × 32
// bytes, its length set by the indices); leaf indices strictly increase.
const MODE_ROOT = 0;
const MODE_FULL = 1;
const MODE_OPENED = 2;
const WITH_STATE = 0x10;
const modeOf = (p: ResidualPart) => (typeof p === 'string' ? MODE_ROOT : p instanceof Float32Array ? MODE_FULL : MODE_OPENED);

/** An opened part's encoded bytes: leaf count, each leaf's index and values, the multiproof. */
export const openingBytes = (p: ResidualOpening) => 2 + p.leaves.reduce((n, l) => n + 4 + l.values.byteLength, 0) + p.proof.byteLength;

function encodePart(p: ResidualPart): Uint8Array {
  if (typeof p === 'string') return hexBytes(p);
  if (p instanceof Float32Array) return bytesOf(p);
  const size = openingBytes(p);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint16(0, p.leaves.length, true);
  let at = 2;
  for (const l of p.leaves) {
    view.setUint32(at, l.index, true);
    out.set(bytesOf(l.values), at + 4);
    at += 4 + l.values.byteLength;
  }
  out.set(p.proof, at);
  return out;
}

/** Encodes an upload (modes byte, e_b's part, e_a's part, the inner state section when present, frame). */
export function encodeEvidence(e: EvidenceUpload): Uint8Array {
  const b = encodePart(e.before);
  const a = encodePart(e.after);
  const st = e.state ? encodeInnerState(e.state) : new Uint8Array(0);
  const out = new Uint8Array(1 + b.byteLength + a.byteLength + st.byteLength + e.frame.byteLength);
  out[0] = modeOf(e.before) | (modeOf(e.after) << 2) | (e.state ? WITH_STATE : 0);
  out.set(b, 1);
  out.set(a, 1 + b.byteLength);
  out.set(st, 1 + b.byteLength + a.byteLength);
  out.set(e.frame, 1 + b.byteLength + a.byteLength + st.byteLength);
  return out;
}

/** Parses an upload, every length checked against the run's parameter count before it is sliced. */
export function decodeEvidence(body: Uint8Array, paramCount: number): EvidenceUpload {
  if (body.byteLength < 1) throw new IdlegradError('BAD_FRAME', 'evidence body is empty');
  const modes = body[0];
  const modeB = modes & 3;
  const modeA = (modes >> 2) & 3;
  if (modes >> 5 || modeB > MODE_OPENED || modeA > MODE_OPENED)
    throw new IdlegradError('BAD_FRAME', `evidence modes 0x${modes.toString(16)} name unknown parts`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const short = (what: string, need: number) =>
    new IdlegradError('BAD_FRAME', `evidence of ${body.byteLength} bytes is shorter than its ${what} (${need} bytes needed)`);
  const part = (at: number, mode: number, which: string): [ResidualPart, number] => {
    if (mode === MODE_ROOT) {
      if (at + DIGEST_BYTES > body.byteLength) throw short(`${which} root`, at + DIGEST_BYTES);
      return [bytesToHex(body.subarray(at, at + DIGEST_BYTES)), at + DIGEST_BYTES];
    }
    if (mode === MODE_FULL) {
      const end = at + 4 * paramCount;
      if (end > body.byteLength) throw short(`${which} in full`, end);
      return [new Float32Array(body.slice(at, end).buffer), end];
    }
    const leafCount = residualLeafCount(paramCount);
    if (at + 2 > body.byteLength) throw short(`${which} leaf count`, at + 2);
    const count = view.getUint16(at, true);
    if (count < 1 || count > leafCount) throw new IdlegradError('BAD_FRAME', `${which} opens ${count} leaves; the residual has ${leafCount}`);
    const leaves: ResidualLeaf[] = [];
    at += 2;
    for (let k = 0; k < count; k++) {
      if (at + 4 > body.byteLength) throw short(`${which} leaf ${k}`, at + 4);
      const index = view.getUint32(at, true);
      if (index >= leafCount || (k > 0 && index <= leaves[k - 1].index))
        throw new IdlegradError('BAD_FRAME', `${which} leaf ${k} has index ${index}: indices must increase and stay under ${leafCount}`);
      const [a, b] = leafRange(index, paramCount);
      const end = at + 4 + 4 * (b - a);
      if (end > body.byteLength) throw short(`${which} leaf ${index}`, end);
      leaves.push({ index, values: new Float32Array(body.slice(at + 4, end).buffer) });
      at = end;
    }
    const proofEnd =
      at +
      DIGEST_BYTES *
        multiproofNodes(
          leaves.map((l) => l.index),
          leafCount,
        ).length;
    if (proofEnd > body.byteLength) throw short(`${which} multiproof`, proofEnd);
    return [{ paramCount, leaves, proof: body.slice(at, proofEnd) }, proofEnd];
  };
  const [before, afterAt] = part(1, modeB, 'e_b');
  const [after, stateAt] = part(afterAt, modeA, 'e_a');
  const [state, frameAt] = modes & WITH_STATE ? decodeInnerState(body, stateAt, paramCount) : [undefined, stateAt];
  if (frameAt >= body.byteLength)
    throw new IdlegradError('BAD_FRAME', `evidence of ${body.byteLength} bytes holds no frame after its residual parts (${frameAt} bytes)`);
  return { before, after, frame: body.slice(frameAt), ...(state ? { state } : {}) };
}

/**
 * What a member uploads for `needs`: the residuals asked for in full, the others opened at the
 * asked leaves (or as roots), from the residuals' kept trees where those serve them (else hashed now).
 */
export function uploadFor(e: Evidence, needs: EvidenceNeeds, kept: { before?: ResidualTree; after?: ResidualTree } = {}): EvidenceUpload {
  const part = (r: Float32Array, full: boolean, tree: ResidualTree | undefined): ResidualPart => {
    if (full) return r;
    if (needs.leaves.length) return openResidual(r, needs.leaves, tree);
    return tree?.serves(r, []) ? tree.root : residualRoot(r);
  };
  return {
    frame: e.frame,
    before: part(e.residualBefore, needs.before, kept.before),
    after: part(e.residualAfter, needs.after, kept.after),
    ...(e.state ? { state: e.state } : {}),
  };
}

/** Whether an upload holds what `needs` names: each residual asked in full in full, the others opened at exactly the asked leaves. */
export function meetsNeeds(u: EvidenceUpload, needs: EvidenceNeeds): boolean {
  const meets = (p: ResidualPart, full: boolean) => {
    if (p instanceof Float32Array) return true;
    if (full) return false;
    const opened = exactLeaves(p)!;
    return opened.length === needs.leaves.length && opened.every((i, k) => i === needs.leaves[k]);
  };
  return meets(u.before, needs.before) && meets(u.after, needs.after);
}

function hexBytes(h: Hex): Uint8Array {
  const out = new Uint8Array((h.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}
