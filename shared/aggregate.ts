// Deterministic, robust aggregation of decoded update frames. Every cohort member and the
// coordinator run this same code on the same frames, so they reach bit-identical float32
// results and can sign the aggregate's hash: members are first put in ascending frame-hash
// order, and every later step (filters, sums, sorts with ties broken by that order) depends
// only on that order, never on the order the frames arrived in.
//
// Pipeline for every kind but 'mean' (the unprotected control):
//   1. reject  — a frame for another model size ('limits'), a non-finite value ('not-finite'),
//                a second copy of a hash ('duplicate'), an empty frame ('empty': a lazy
//                zero update), a near-copy of a lower-hash frame ('copycat': cosine over the
//                union of their supports > copycatCosine; past COPYCAT_EXHAUSTIVE updates
//                only the pairs a sketch puts in one bucket are compared). Copies keep the LOWEST hash and
//                drop the rest: dropping both would let anyone censor an honest peer by
//                replaying its frame, and keeping one gives a copier no extra weight. Who
//                earns credit for a copied frame is the ledger's call, not this function's.
//   2. clip    — each update's L2 norm to clip × the median norm of the kept updates.
//      oppose  — (trimmed-mean and centered-clip, when minCosine is set) an update whose cosine
//                to the coordinate-wise trimmed mean of the clipped updates is below minCosine
//                ('opposed': e.g. a sign-flipped update) is dropped, and the rest combined.
//                Only where that trimmed mean trims (⌊trim·n⌋ ≥ 1, n ≥ 5 at trim 0.2): below
//                that it is the plain mean, which one update can steer, and an honest member
//                of a 3-member cohort can point away from it by sampling noise alone.
//      vote    — (trimmed-mean and centered-clip with minCosine and leaveOneOut: the in-cohort
//                aggregate, shared/round.ts cohortAggregator) where that trimmed mean trims
//                nothing and at least 3 updates are kept: each update's cosine to the sum of the
//                OTHER updates' unit directions (one vote each, whatever their norms or samples);
//                the lowest, if below minCosine, is dropped as 'opposed' and the vote repeated,
//                while at least 3 remain (leaveOneOutOpposed); two left whose cosine is below
//                minCosine are both dropped (a 1-of-2 flip: neither can be told honest). A 1-of-3
//                sign flip is the lowest (≈ −1.4·c against ≈ 0 for the honest two, c their
//                cosine); before the norms are clipped, so a dropped update sets neither the
//                median nor the radius.
//   3. combine — 'clipped-mean': sample-weighted mean;
//                'trimmed-mean': per coordinate, over the members' dense updates (a coordinate
//                absent from a sparse frame is a 0 contribution), drop the ⌊trim·n⌋ lowest and
//                highest values (ties by hash order), sample-weighted mean of the rest;
//                'centered-clip': v ← v + Σ wᵢ·(xᵢ − v)·min(1, τ/‖xᵢ − v‖), `iterations`
//                times from v = the coordinate-wise trimmed mean, τ = tau × median norm
//                (Karimireddy et al. 2021).
import { concatHex, type Hex } from 'viem';
import { keccak256 } from './keccak.ts';
import type { DecodedFrame } from './codec.ts';

export type AggregatorKind = 'mean' | 'clipped-mean' | 'trimmed-mean' | 'centered-clip';
export const AGGREGATOR_KINDS: readonly AggregatorKind[] = ['mean', 'clipped-mean', 'trimmed-mean', 'centered-clip'];

export interface AggregatorConfig {
  /** 'mean' is the unprotected control: it weights by samples and rejects nothing. */
  kind: AggregatorKind;
  /** Norm clip: each update's L2 norm is clipped to clip × median norm; 0 turns it off. Unused by 'mean'. */
  clip: number;
  /** trimmed-mean (and centered-clip's start): fraction of members trimmed at each end per coordinate. Default 0.2. */
  trim?: number;
  /** centered-clip: radius as a multiple of the median norm. Default 1. */
  tau?: number;
  /** centered-clip: iterations. Default 3. */
  iterations?: number;
  /** Cosine (over the union support) above which a frame is a copy of a lower-hash one. Default 0.99. */
  copycatCosine?: number;
  /**
   * trimmed-mean and centered-clip: a clipped update whose cosine to the trimmed mean of all
   * clipped updates is below this is dropped as 'opposed', when at least ⌊trim·n⌋ ≥ 1 updates
   * are trimmed at each end (a centre that trims nothing is no robust reference). Unset: no such filter.
   */
  minCosine?: number;
  /**
   * trimmed-mean and centered-clip with minCosine set: where the trimmed mean trims nothing
   * (fewer than 5 updates at trim 0.2) and at least 2 are kept, the leave-one-out direction
   * vote (leaveOneOutOpposed) drops updates that oppose the others. The in-cohort aggregate
   * turns it on (shared/round.ts cohortAggregator); the cross-cohort combine does not.
   */
  leaveOneOut?: boolean;
}

export interface WeightedUpdate {
  hash: Hex;
  frame: DecodedFrame;
}

export type ExclusionReason = 'limits' | 'not-finite' | 'duplicate' | 'empty' | 'copycat' | 'opposed';

export interface AggregateResult {
  /** The aggregate pseudo-gradient (paramCount), float32. */
  dense: Float32Array;
  /** Σ samples of the frames that were kept. */
  samples: number;
  /** Hashes of the kept frames, ascending. */
  included: Hex[];
  /** Rejected frames, in hash order, each with why. */
  excluded: { hash: Hex; reason: ExclusionReason }[];
}

/** Hash of an ordered set of frame hashes: what a member signs as "the frames I aggregated". */
export function framesRoot(hashes: Hex[]): Hex {
  return keccak256(concatHex([...hashes].sort()));
}

/** The L2 norm of a frame's values, summed in order (the norm every step of the combine uses). */
export function l2Norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return Math.sqrt(s);
}

/**
 * The norms of frames and their pairwise cosines (upper triangle, row by row: (0,1), (0,2), …,
 * (1,2), …): what the leave-one-out vote sees, for a member's log (shared/round.ts cohortAggregate).
 */
export function directions(frames: readonly DecodedFrame[]): { norms: number[]; cosines: number[] } {
  const norms = frames.map((f) => l2Norm(f.values));
  const cosines: number[] = [];
  for (let i = 0; i < frames.length; i++) for (let j = i + 1; j < frames.length; j++) cosines.push(sparseCosine(frames[i], frames[j], norms[i], norms[j]));
  return { norms, cosines };
}

/** Cosine of two sparse vectors with ascending indices (absent coordinates are zero). */
function sparseCosine(a: DecodedFrame, b: DecodedFrame, na: number, nb: number): number {
  if (na === 0 || nb === 0) return 0;
  let dot = 0;
  for (let i = 0, j = 0; i < a.indices.length && j < b.indices.length;) {
    if (a.indices[i] === b.indices[j]) dot += a.values[i++] * b.values[j++];
    else if (a.indices[i] < b.indices[j]) i++;
    else j++;
  }
  return dot / (na * nb);
}

/**
 * The kept updates that can be within `minCos` of `f`: all of them, pruned exactly where the
 * bound allows. For unit vectors |â − b̂|² = 2 − 2·cos(a, b); if b is zero on a set T of f's
 * coordinates holding mass M_T of f̂, then |f̂ − b̂|² ≥ M_T. So with T = f's largest
 * coordinates up to M_T ≥ 2(1 − minCos), an update with cosine above minCos is nonzero somewhere
 * on T: the candidates are the holders of T's indices (the same verdicts as comparing with
 * every kept update). Where no such T exists (minCos ≤ 0.5, or too little mass), every kept
 * update is a candidate. At realistic density every kept update holds some of T, so this is
 * all pairs: used only up to COPYCAT_EXHAUSTIVE updates (a cohort's frames, a small combine).
 */
function exactCandidates(f: DecodedFrame, n: number, minCos: number, keptCount: number, holders: Map<number, number[]>): number[] {
  const all = () => Array.from({ length: keptCount }, (_, i) => i);
  const need = 2 * (1 - minCos) * (1 + 1e-9);
  if (!(need < 1)) return all();
  const order = Array.from(f.values.keys()).sort((x, y) => Math.abs(f.values[y]) - Math.abs(f.values[x]) || x - y);
  const candidates = new Set<number>();
  let mass = 0;
  for (const j of order) {
    for (const k of holders.get(f.indices[j]) ?? []) candidates.add(k);
    mass += (f.values[j] / n) ** 2;
    if (mass >= need) return [...candidates].sort((x, y) => x - y);
  }
  return all();
}

/**
 * Up to this many updates the copycat check compares each with every kept lower-hash update
 * that can be near it (exactCandidates): a cohort's frames (cohortSize ≤ 64) and a small
 * combine keep today's verdicts exactly. Above it, with the updates its sketch shares a bucket
 * with (CopycatSketch), so the check is near-linear in the number of updates.
 */
export const COPYCAT_EXHAUSTIVE = 64;

// The sketch: each coordinate i goes to one of SKETCH_BUCKETS buckets with a sign (both from a
// fixed integer hash of i), and bucket b holds Σ sign(i)·x_i over its coordinates (a count
// sketch: linear, so a near-copy's buckets differ from the original's by the sketch of the
// small difference). A bucket's sign is then a random-hyperplane bit of x over a random subset
// of coordinates, which two vectors share with probability ≈ 1 − angle/π (Charikar's SimHash):
// ≈ 0.955 at cosine 0.99, 0.5 for unrelated updates. SKETCH_BANDS bands of BAND_WIDTH buckets
// each key a bucket table; two updates are candidates when any band's signs agree exactly. At
// cosine 0.99 a band agrees with probability ≈ 0.955^16 ≈ 0.48, so a near-copy at the threshold
// escapes every band with probability ≈ 0.52^16 ≈ 3·10⁻⁵ (a copy at cosine 0.9999, ~10⁻¹⁰⁰);
// two unrelated updates meet in some band with probability ≈ 16·2⁻¹⁶ ≈ 2·10⁻⁴. A further key,
// the hash of the index set, catches every copy that kept the support (a scaled or re-noised
// copy) whatever its values. Every candidate is then checked exactly (sparseCosine), so the
// sketch can miss a copy but never refuses an update that is not one. The hashes are public,
// so an attacker who knows them can shape a near-copy that shares no band; it can as easily
// add noise down to a cosine of 0.98, which the exact check lets pass too: the check is for
// replays and lazy copies, and a copy that passes it gets no more weight than one honest update.
const BAND_WIDTH = 16;
const SKETCH_BANDS = 16;
const SKETCH_BUCKETS = BAND_WIDTH * SKETCH_BANDS; // 256: an 8-bit bucket number
const THREE_TO_BAND = 3 ** BAND_WIDTH;

/** A coordinate's bucket (8 bits) and sign (1 bit), from one 32-bit mix of its index (murmur3's finalizer). */
function mixIndex(i: number): number {
  let h = Math.imul(i ^ 0x2545f491, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

class CopycatSketch {
  private readonly table = new Map<number, number[]>();
  private readonly sketch = new Float64Array(SKETCH_BUCKETS);
  private readonly keys = new Array<number>(SKETCH_BANDS + 1);
  private readonly seen: number[] = [];
  private stamp = 0;

  /** The table keys of f: one per band (its buckets' signs in base 3), and its index set's hash. */
  private keysOf(f: DecodedFrame): number[] {
    const { sketch, keys } = this;
    sketch.fill(0);
    let indexHash = 0x811c9dc5;
    for (let j = 0; j < f.indices.length; j++) {
      const h = mixIndex(f.indices[j]);
      sketch[h >>> 24] += h & 1 ? -f.values[j] : f.values[j];
      indexHash = Math.imul(indexHash ^ f.indices[j], 0x01000193);
    }
    for (let band = 0; band < SKETCH_BANDS; band++) {
      let code = 0;
      for (let b = band * BAND_WIDTH; b < (band + 1) * BAND_WIDTH; b++) code = code * 3 + (sketch[b] > 0 ? 1 : sketch[b] < 0 ? 2 : 0);
      keys[band] = band * THREE_TO_BAND + code;
    }
    keys[SKETCH_BANDS] = SKETCH_BANDS * THREE_TO_BAND + (indexHash >>> 0);
    return keys;
  }

  /** The kept updates sharing a key with f, ascending. */
  candidates(f: DecodedFrame): number[] {
    const stamp = ++this.stamp;
    const out: number[] = [];
    for (const key of this.keysOf(f)) {
      for (const k of this.table.get(key) ?? []) {
        if (this.seen[k] !== stamp) ((this.seen[k] = stamp), out.push(k));
      }
    }
    return out.sort((a, b) => a - b);
  }

  /** Files the update last passed to candidates() as kept update `position`. */
  fileLast(position: number): void {
    for (const key of this.keys) this.table.get(key)?.push(position) ?? this.table.set(key, [position]);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Values dropped at each end of a coordinate by a trimmed mean of m rows: ⌊trim·m⌋, leaving at least one. */
const trimCount = (m: number, trim: number) => Math.min(Math.floor(trim * m), (m - 1) >> 1);

// ---- the robust combine, sparse-aware ---------------------------------------------------
//
// The kept updates are never laid out as dense (members × support) rows. A realistic group's
// inputs are sparse (a cohort aggregate carries about 1 − (1 − ρ)^k of the coordinates, a relay
// member's frame ρ), so most coordinates are zero in most inputs, and every step works from the
// nonzeros:
// - the trimmed mean walks each coordinate's nonzeros (Columns: rows ascending). Where at most
//   t are negative and at most t positive, every kept rank [t, m − t) is a zero and the result
//   is +0 without touching the zeros; elsewhere the values split by sign, the trimmed ends are
//   cut off by quickselect and only the middle is sorted (ties by row order), and the kept zeros
//   add their weights in row order.
// - a row's dot products walk its nonzeros; while the estimate is sparse (after the trimmed
//   mean of a sparse group), a row's distance to it and its share of a centered-clip step walk
//   the union of the row's and the estimate's nonzeros (distanceSquared, addStep): where both
//   are zero a term is ±0, which leaves a float sum that starts at +0 unchanged.
// Every sum runs over the same nonzero terms in the same order as the dense formulation (rows
// in order, coordinates ascending), so the result is bit-identical to it; shared/aggregate.test.ts
// compares it with shared/aggregate-dense.ts on random sparse and dense inputs. Once the
// estimate is dense (centered-clip after its first step, every group above level 1) a row is
// laid out densely and the passes cost members × support again, as they must for sums in that
// order; rows that cover the whole support (groups above level 1) are read as they are. That is
// combine version 1; version 2 (CombineVersion, centeredClipSparse) sums in another order and
// costs members × nonzeros.

/** a before b: by value, ties by row. */
const before = (v: Float64Array, r: Int32Array, a: number, b: number) => v[a] < v[b] || (v[a] === v[b] && r[a] < r[b]);

function swap(v: Float64Array, r: Int32Array, a: number, b: number): void {
  const tv = v[a];
  v[a] = v[b];
  v[b] = tv;
  const tr = r[a];
  r[a] = r[b];
  r[b] = tr;
}

/** Partition [lo, hi] around a median-of-three pivot; returns the pivot's final position. */
function partition(v: Float64Array, r: Int32Array, lo: number, hi: number): number {
  const mid = (lo + hi) >> 1;
  if (before(v, r, mid, lo)) swap(v, r, mid, lo);
  if (before(v, r, hi, lo)) swap(v, r, hi, lo);
  if (before(v, r, mid, hi)) swap(v, r, mid, hi);
  // pivot now at hi
  let store = lo;
  for (let i = lo; i < hi; i++) if (before(v, r, i, hi)) swap(v, r, i, store++);
  swap(v, r, store, hi);
  return store;
}

/** Quickselect: afterwards positions < k hold the k smallest of [lo, hi] (in some order), positions ≥ k the rest. */
function select(v: Float64Array, r: Int32Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const p = partition(v, r, lo, hi);
    if (p === k) return;
    if (p < k) lo = p + 1;
    else hi = p - 1;
  }
}

/** Sort [lo, hi] ascending (insertion sort below 16 elements, quicksort above). */
function sortRange(v: Float64Array, r: Int32Array, lo: number, hi: number): void {
  while (hi - lo >= 16) {
    const p = partition(v, r, lo, hi);
    if (p - lo < hi - p) (sortRange(v, r, lo, p - 1), (lo = p + 1));
    else (sortRange(v, r, p + 1, hi), (hi = p - 1));
  }
  for (let i = lo + 1; i <= hi; i++) {
    for (let j = i; j > lo && before(v, r, j, j - 1); j--) swap(v, r, j, j - 1);
  }
}

/** A kept update as (support position, clipped value) pairs, positions strictly ascending; a repeated index keeps its last value. */
interface SparseRow {
  pos: Int32Array;
  val: Float64Array;
}

function sparseRow(indices: Uint32Array, values: Float32Array, posOf: Int32Array, scale: number): SparseRow {
  const n = indices.length;
  let order: ArrayLike<number> | null = null;
  for (let i = 1; i < n; i++) {
    if (indices[i] <= indices[i - 1]) {
      // Out of order or repeated (a decoded frame is neither): a stable sort keeps the last write of a repeated index last.
      order = Array.from({ length: n }, (_, j) => j).sort((a, b) => indices[a] - indices[b] || a - b);
      break;
    }
  }
  const pos = new Int32Array(n);
  const val = new Float64Array(n);
  let len = 0;
  for (let i = 0; i < n; i++) {
    const j = order ? order[i] : i;
    const p = posOf[indices[j]];
    if (len > 0 && pos[len - 1] === p) len--;
    pos[len] = p;
    val[len++] = values[j] * scale;
  }
  return len === n ? { pos, val } : { pos: pos.slice(0, len), val: val.slice(0, len) };
}

/** The rows' nonzero values by support position, rows ascending within each: column k is [start[k], start[k + 1]). */
class Columns {
  readonly start: Int32Array;
  readonly row: Int32Array;
  readonly val: Float64Array;
  constructor(rows: SparseRow[], supportCount: number) {
    const start = new Int32Array(supportCount + 1);
    for (const { pos, val } of rows) for (let i = 0; i < pos.length; i++) if (val[i] !== 0) start[pos[i] + 1]++;
    for (let k = 0; k < supportCount; k++) start[k + 1] += start[k];
    const fill = start.slice(0, supportCount);
    this.row = new Int32Array(start[supportCount]);
    this.val = new Float64Array(start[supportCount]);
    rows.forEach(({ pos, val }, j) => {
      for (let i = 0; i < pos.length; i++) {
        if (val[i] === 0) continue;
        const e = fill[pos[i]]++;
        this.row[e] = j;
        this.val[e] = val[i];
      }
    });
    this.start = start;
  }
}

/**
 * The trimmed mean into out (zeroed, one per support position): per coordinate, over the active
 * rows (weights by position in `active`), drop the t lowest and highest values (ties by row
 * order), weighted mean of the rest, summed in ascending order.
 */
class TrimmedMean {
  private readonly negV: Float64Array;
  private readonly negR: Int32Array;
  private readonly posV: Float64Array;
  private readonly posR: Int32Array;
  private readonly stamp: Int32Array;
  constructor(m: number) {
    this.negV = new Float64Array(m);
    this.negR = new Int32Array(m);
    this.posV = new Float64Array(m);
    this.posR = new Int32Array(m);
    this.stamp = new Int32Array(m);
  }

  run(source: Columns | Float64Array[], active: Int32Array, weights: Float64Array, t: number, out: Float64Array): void {
    const { negV, negR, posV, posR, stamp } = this;
    const m = active.length;
    // By columns (sparse rows), or straight from the rows when every row covers the whole support (groups above level 1).
    const cols = source instanceof Columns ? source : null;
    const dense = cols ? [] : (source as Float64Array[]);
    // A row's position in `active` (−1: not active), for the column walk; stamp has one entry per row.
    const activeOf = new Int32Array(cols ? stamp.length : 0).fill(-1);
    if (cols) active.forEach((j, a) => (activeOf[j] = a));
    stamp.fill(0);
    for (let k = 0; k < out.length; k++) {
      let nn = 0;
      let np = 0;
      if (cols) {
        for (let e = cols.start[k]; e < cols.start[k + 1]; e++) {
          const a = activeOf[cols.row[e]];
          if (a < 0) continue;
          const x = cols.val[e];
          if (x < 0) ((negV[nn] = x), (negR[nn++] = a));
          else ((posV[np] = x), (posR[np++] = a));
        }
      } else {
        for (let a = 0; a < m; a++) {
          const x = dense[active[a]][k];
          if (x < 0) ((negV[nn] = x), (negR[nn++] = a));
          else if (x > 0) ((posV[np] = x), (posR[np++] = a));
        }
      }
      // Ascending order: negatives [0, nn), zeros [nn, m − np), positives [m − np, m); keep ranks [t, m − t).
      // No negative and no positive among them: the kept values are all zeros, and +0 / Σw is +0.
      if (nn <= t && np <= t) continue;
      const nz = m - nn - np;
      let s = 0;
      let ws = 0;
      const lo = t;
      const hi = m - t;
      // negatives
      let from = Math.max(0, lo);
      let to = Math.min(nn, hi);
      if (from < to) {
        if (from > 0) select(negV, negR, 0, nn - 1, from);
        if (to < nn) select(negV, negR, from, nn - 1, to);
        sortRange(negV, negR, from, to - 1);
        for (let i = from; i < to; i++) ((s += weights[negR[i]] * negV[i]), (ws += weights[negR[i]]));
      }
      // zeros, in row order: each adds its weight (and w·±0 to s, which changes nothing)
      from = Math.max(0, lo - nn);
      to = Math.min(nz, hi - nn);
      if (from < to) {
        for (let i = 0; i < nn; i++) stamp[negR[i]] = k + 1;
        for (let i = 0; i < np; i++) stamp[posR[i]] = k + 1;
        for (let a = 0, z = 0; a < m && z < to; a++) {
          if (stamp[a] === k + 1) continue;
          if (z++ >= from) ws += weights[a];
        }
      }
      // positives
      from = Math.max(0, lo - nn - nz);
      to = Math.min(np, hi - nn - nz);
      if (from < to) {
        if (from > 0) select(posV, posR, 0, np - 1, from);
        if (to < np) select(posV, posR, from, np - 1, to);
        sortRange(posV, posR, from, to - 1);
        for (let i = from; i < to; i++) ((s += weights[posR[i]] * posV[i]), (ws += weights[posR[i]]));
      }
      out[k] = s / ws;
    }
  }
}

/** The support positions where est is nonzero, ascending. */
function nonzerosOf(est: Float64Array): Int32Array {
  let n = 0;
  for (let k = 0; k < est.length; k++) if (est[k] !== 0) n++;
  const out = new Int32Array(n);
  for (let k = 0, i = 0; k < est.length; k++) if (est[k] !== 0) out[i++] = k;
  return out;
}

// The row's distance to the estimate and its share of a centered-clip step walk the coordinates
// where the row or the estimate is nonzero, ascending (a merge of the two position lists);
// elsewhere x − est[k] is ±0, a term that changes no sum.
const END = 0x7fffffff;

/** ‖row − est‖², summed over the coordinates in ascending order. */
function distanceSquared(row: SparseRow, est: Float64Array, estNonzeros: Int32Array): number {
  const { pos, val } = row;
  let s = 0;
  for (let i = 0, j = 0; i < pos.length || j < estNonzeros.length;) {
    const p = i < pos.length ? pos[i] : END;
    const q = j < estNonzeros.length ? estNonzeros[j] : END;
    const diff = q < p ? -est[q] : val[i] - est[p];
    s += diff * diff; // not `** 2`: plain IEEE products are the same in every engine
    if (p <= q) i++;
    if (q <= p) j++;
  }
  return s;
}

/** step[k] += c·(x_k − est[k]) at every coordinate, one row after another in row order. */
function addStep(row: SparseRow, est: Float64Array, estNonzeros: Int32Array, c: number, step: Float64Array): void {
  const { pos, val } = row;
  for (let i = 0, j = 0; i < pos.length || j < estNonzeros.length;) {
    const p = i < pos.length ? pos[i] : END;
    const q = j < estNonzeros.length ? estNonzeros[j] : END;
    if (q < p) ((step[q] += c * -est[q]), j++);
    else {
      step[p] += c * (val[i] - est[p]);
      i++;
      if (q === p) j++;
    }
  }
}

// Once the estimate is dense, a row is laid out densely (x, zeros and all) and both passes run
// branch-free over every coordinate: the same terms in the same order as the merges above.
function distanceSquaredDense(x: Float64Array, est: Float64Array): number {
  let s = 0;
  for (let k = 0; k < est.length; k++) {
    const diff = x[k] - est[k];
    s += diff * diff;
  }
  return s;
}

function addStepDense(x: Float64Array, est: Float64Array, c: number, step: Float64Array): void {
  for (let k = 0; k < est.length; k++) step[k] += c * (x[k] - est[k]);
}

/**
 * How centered-clip's iterations sum: the version of the coordinator's cross-cohort combine, which
 * a committed round records with its groups (shared/robust-combine.ts CombineRecord) so an auditor
 * redoes it with the same sums. Every other step (screen, clip, oppose, trimmed mean) is the same
 * in both.
 * - 1: every row over the whole support, in the dense formulation's order (bit-identical to
 *   shared/aggregate-dense.ts): rows × support per iteration. The in-cohort aggregate pages
 *   compute is always 1.
 * - 2: the sparse formulation, rows × nonzeros per iteration: ‖x − v‖² = ‖v‖² − 2⟨x, v⟩ + ‖x‖²
 *   (⟨x, v⟩ and ‖x‖² over x's nonzeros ascending, ‖v‖² over the support ascending, the
 *   difference clamped at 0), and the step Σ cₐxₐ − (Σ cₐ)·v (the rows' c·x added row after
 *   row, nonzeros ascending; Σ cₐ in row order). Float64 throughout in a fixed order, one
 *   rounding to float32 at the end: the same bits on every machine, not v1's bits.
 */
export type CombineVersion = 1 | 2;
export const COMBINE_VERSIONS: readonly CombineVersion[] = [1, 2];

/** `v` as a combine version, or an error naming `what` and the versions this code knows. */
export function combineVersionOf(v: unknown, what = 'combine version'): CombineVersion {
  if (COMBINE_VERSIONS.includes(v as CombineVersion)) return v as CombineVersion;
  throw new Error(`${what}: unknown combine version ${JSON.stringify(v)} (this code knows ${COMBINE_VERSIONS.join(', ')})`);
}

/**
 * Aggregate members' sparse updates into one dense float32 pseudo-gradient. Deterministic:
 * the same set of frames in any order gives a bit-identical result.
 */
export function aggregateUpdates(updates: WeightedUpdate[], paramCount: number, cfg: AggregatorConfig, version: CombineVersion = 1): AggregateResult {
  if (cfg.kind === 'mean') return meanOf(updates, paramCount);
  const { kept, excluded } = screenUpdates(updates, paramCount, cfg);
  return combineScreened(kept, excluded, paramCount, cfg, version);
}

/** A kept update (screenUpdates) with its L2 norm. */
export interface ScreenedUpdate {
  u: WeightedUpdate;
  norm: number;
}

const byHash = <T extends { hash: Hex }>(a: T, b: T) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);

/** 'mean', the unprotected control: sample-weighted, nothing refused. */
function meanOf(updates: WeightedUpdate[], paramCount: number): AggregateResult {
  const ordered = [...updates].sort(byHash);
  const dense = new Float32Array(paramCount);
  const total = ordered.reduce((s, u) => s + u.frame.header.samples, 0);
  if (total > 0) {
    for (const u of ordered) {
      const w = Math.fround(u.frame.header.samples / total);
      const { indices, values } = u.frame;
      for (let i = 0; i < indices.length; i++) dense[indices[i]] = dense[indices[i]] + w * values[i];
    }
  }
  return { dense, samples: total, included: ordered.map((u) => u.hash), excluded: [] };
}

/**
 * Step 1 of the pipeline, reject: the updates that enter the combine (in hash order, with their
 * norms) and the refused ones with why, in hash order.
 */
export function screenUpdates(
  updates: WeightedUpdate[],
  paramCount: number,
  cfg: AggregatorConfig,
): { kept: ScreenedUpdate[]; excluded: AggregateResult['excluded'] } {
  const ordered = [...updates].sort(byHash);
  const excluded: AggregateResult['excluded'] = [];
  const copyCos = cfg.copycatCosine ?? 0.99;
  const kept: { u: WeightedUpdate; norm: number }[] = [];
  const keptHashes = new Set<Hex>();
  // Up to COPYCAT_EXHAUSTIVE updates: index → positions in `kept` of the updates nonzero there (exactCandidates); above, the sketch.
  const holders = ordered.length <= COPYCAT_EXHAUSTIVE ? new Map<number, number[]>() : null;
  const sketch = holders ? null : new CopycatSketch();
  for (const u of ordered) {
    const f = u.frame;
    const reason: ExclusionReason | null =
      f.header.paramCount !== paramCount || f.indices.length !== f.values.length || f.indices.some((i) => i >= paramCount)
        ? 'limits'
        : !f.values.every(Number.isFinite)
          ? 'not-finite'
          : keptHashes.has(u.hash)
            ? 'duplicate'
            : null;
    if (reason) {
      excluded.push({ hash: u.hash, reason });
      continue;
    }
    const n = l2Norm(f.values);
    if (n === 0 || f.header.samples === 0) {
      excluded.push({ hash: u.hash, reason: 'empty' });
      continue;
    }
    const candidates = holders ? exactCandidates(f, n, copyCos, kept.length, holders) : sketch!.candidates(f);
    if (candidates.some((i) => sparseCosine(kept[i].u.frame, f, kept[i].norm, n) > copyCos)) excluded.push({ hash: u.hash, reason: 'copycat' });
    else {
      if (holders) for (const i of f.indices) holders.get(i)?.push(kept.length) ?? holders.set(i, [kept.length]);
      else sketch!.fileLast(kept.length);
      keptHashes.add(u.hash);
      kept.push({ u, norm: n });
    }
  }
  return { kept, excluded };
}

/**
 * The leave-one-out direction vote over kept updates (hash order): positions in `kept` to drop
 * as 'opposed', in the order dropped. While at least 3 remain, each remaining update j scores
 * cos(x_j, Σ_{i≠j} x_i/‖x_i‖) from the pairwise cosines (float64 sums in position order, so
 * every member computes the same verdicts); the lowest score (ties: the lower position) is
 * dropped if it is below minCos, else the vote ends. One vote per update: a large or heavily
 * weighted attacker cannot outvote the others' directions. With 3 updates one opposing the two
 * others is the lowest. 2 cannot be told apart: if their cosine is below minCos both are dropped
 * (e2e/chaos's first round seats 2 pages, the attacker and one honest page, and the attacker's
 * −4Δ, unclipped at 2 — the median of two norms is their mean — took held-out loss to 2.99).
 */
export function leaveOneOutOpposed(kept: readonly ScreenedUpdate[], minCos: number): number[] {
  const n = kept.length;
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    gram[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) gram[i * n + j] = gram[j * n + i] = sparseCosine(kept[i].u.frame, kept[j].u.frame, kept[i].norm, kept[j].norm);
  }
  const active = Array.from({ length: n }, (_, i) => i);
  const dropped: number[] = [];
  while (active.length >= 3) {
    let worst = -1;
    let worstScore = Infinity;
    for (const j of active) {
      let dotOthers = 0;
      let othersSquared = 0;
      for (const i of active) {
        if (i === j) continue;
        dotOthers += gram[j * n + i];
        for (const k of active) if (k !== j) othersSquared += gram[i * n + k];
      }
      const score = othersSquared > 0 ? dotOthers / Math.sqrt(othersSquared) : 0;
      if (score < worstScore) ((worst = j), (worstScore = score));
    }
    if (!(worstScore < minCos)) break;
    dropped.push(worst);
    active.splice(active.indexOf(worst), 1);
  }
  // Two left that oppose each other carry no agreed direction, and neither can be told to be the
  // honest one: both are dropped (the cohort applies nothing; each member keeps its update).
  if (active.length === 2 && gram[active[0] * n + active[1]] < minCos) dropped.push(...active);
  return dropped;
}

/** kept without the leave-one-out vote's 'opposed' updates (cfg.leaveOneOut), which are added to `excluded` (kept in hash order). */
export function leaveOneOutFilter(kept: ScreenedUpdate[], excluded: AggregateResult['excluded'], cfg: AggregatorConfig): ScreenedUpdate[] {
  if (!cfg.leaveOneOut || cfg.minCosine === undefined || (cfg.kind !== 'trimmed-mean' && cfg.kind !== 'centered-clip')) return kept;
  if (kept.length < 2 || trimCount(kept.length, cfg.trim ?? 0.2) >= 1) return kept;
  const dropped = new Set(leaveOneOutOpposed(kept, cfg.minCosine));
  if (dropped.size === 0) return kept;
  for (const j of dropped) excluded.push({ hash: kept[j].u.hash, reason: 'opposed' });
  excluded.sort(byHash);
  return kept.filter((_, j) => !dropped.has(j));
}

/**
 * Steps 2 and 3 of the pipeline (clip, oppose, combine) over screened updates in hash order;
 * `excluded` (hash order) is extended with the 'opposed' ones. aggregateUpdates is screenUpdates
 * then this; the hierarchical combine (shared/round.ts) screens once and runs this per group.
 */
export function combineScreened(
  screened: ScreenedUpdate[],
  screenedOut: AggregateResult['excluded'],
  paramCount: number,
  cfg: AggregatorConfig,
  version: CombineVersion = 1,
): AggregateResult {
  combineVersionOf(version);
  const excluded = [...screenedOut];
  const dense = new Float32Array(paramCount);
  const kept = leaveOneOutFilter(screened, excluded, cfg);
  if (kept.length === 0) return { dense, samples: 0, included: [], excluded };

  // 2. Clip norms to clip × median.
  const med = median(kept.map((k) => k.norm));
  const scaleOf = (k: { norm: number }) => (cfg.clip > 0 && k.norm > cfg.clip * med ? (cfg.clip * med) / k.norm : 1);

  // 3. Combine.
  if (cfg.kind === 'clipped-mean') {
    const total = kept.reduce((s, k) => s + k.u.frame.header.samples, 0);
    for (const k of kept) {
      const w = Math.fround((k.u.frame.header.samples / total) * scaleOf(k));
      const { indices, values } = k.u.frame;
      for (let i = 0; i < indices.length; i++) dense[indices[i]] = dense[indices[i]] + w * values[i];
    }
    return { dense, samples: total, included: kept.map((k) => k.u.hash), excluded };
  }
  // The support: the coordinates any kept update touches, ascending. Elsewhere every update is
  // zero and so is the result; every loop below runs over the support in index order.
  const touched = new Uint8Array(paramCount);
  for (const k of kept) for (const i of k.u.frame.indices) touched[i] = 1;
  const pos = new Int32Array(paramCount);
  let supportCount = 0;
  for (let i = 0; i < paramCount; i++) if (touched[i]) pos[i] = supportCount++;
  const support = new Int32Array(supportCount);
  for (let i = 0; i < paramCount; i++) if (touched[i]) support[pos[i]] = i;
  // The clipped updates as sparse rows over the support in hash order, and the same nonzeros by
  // coordinate. Float64 keeps the sums exact enough and the order fixed; the result is rounded
  // to float32 once.
  const rows = kept.map((k) => sparseRow(k.u.frame.indices, k.u.frame.values, pos, scaleOf(k)));
  const byCoordinate = rows.every((r) => r.pos.length === supportCount) ? rows.map((r) => r.val) : new Columns(rows, supportCount);
  const trimmer = new TrimmedMean(kept.length);
  const trim = cfg.trim ?? 0.2;
  let active = Int32Array.from(kept.keys());
  if (cfg.minCosine !== undefined && trimCount(active.length, trim) >= 1) {
    // The centre (trimmed mean weighted by samples), and each row's dot with it and with itself.
    const w = Float64Array.from(kept, (k) => k.u.frame.header.samples);
    const centre = new Float64Array(supportCount);
    trimmer.run(byCoordinate, active, w, trimCount(active.length, trim), centre);
    let cc = 0;
    for (let k = 0; k < supportCount; k++) cc += centre[k] * centre[k];
    const cn = Math.sqrt(cc);
    if (cn > 0) {
      const agree = active.filter((j) => {
        const { pos: p, val } = rows[j];
        let dc = 0;
        let dr = 0;
        for (let i = 0; i < p.length; i++) ((dc += val[i] * centre[p[i]]), (dr += val[i] * val[i]));
        return dc / (Math.sqrt(dr) * cn) >= cfg.minCosine!;
      });
      // Every update opposing the centre cannot happen with a trimmed mean of them, but never leave nothing.
      if (agree.length > 0) {
        const agrees = new Uint8Array(kept.length);
        for (const j of agree) agrees[j] = 1;
        for (const j of active) if (!agrees[j]) excluded.push({ hash: kept[j].u.hash, reason: 'opposed' });
        excluded.sort(byHash);
        active = agree;
      }
    }
  }
  const total = Array.from(active, (j) => kept[j].u.frame.header.samples).reduce((a, b) => a + b, 0);
  const included = Array.from(active, (j) => kept[j].u.hash);
  const weights = Float64Array.from(active, (j) => kept[j].u.frame.header.samples / total);
  const est = new Float64Array(supportCount);
  trimmer.run(byCoordinate, active, weights, trimCount(active.length, trim), est);
  // centered-clip: v ← v + Σ c_a·(x_a − v), c_a = w_a·min(1, τ/‖x_a − v‖), from v = the trimmed mean.
  const iterations = cfg.kind === 'centered-clip' ? (cfg.iterations ?? 3) : 0;
  const tau = (cfg.tau ?? 1) * med;
  const step = new Float64Array(iterations > 0 ? supportCount : 0);
  if (version === 2) {
    centeredClipSparse(
      Array.from(active, (j) => rows[j]),
      weights,
      tau,
      iterations,
      est,
      step,
    );
    for (let k = 0; k < supportCount; k++) dense[support[k]] = est[k];
    return { dense, samples: total, included, excluded };
  }
  const x = new Float64Array(iterations > 0 ? supportCount : 0);
  for (let it = 0; it < iterations; it++) {
    const estNonzeros = nonzerosOf(est);
    step.fill(0);
    const denseEst = estNonzeros.length === supportCount;
    active.forEach((j, a) => {
      const row = rows[j];
      if (!denseEst) {
        const d = Math.sqrt(distanceSquared(row, est, estNonzeros));
        return addStep(row, est, estNonzeros, weights[a] * (d > tau ? tau / d : 1), step);
      }
      // A row over the whole support (every group above level 1) is its own dense layout.
      const full = row.pos.length === supportCount;
      if (!full) for (let i = 0; i < row.pos.length; i++) x[row.pos[i]] = row.val[i];
      const values = full ? row.val : x;
      const d = Math.sqrt(distanceSquaredDense(values, est));
      addStepDense(values, est, weights[a] * (d > tau ? tau / d : 1), step);
      if (!full) for (let i = 0; i < row.pos.length; i++) x[row.pos[i]] = 0;
    });
    for (let k = 0; k < supportCount; k++) est[k] += step[k];
  }
  for (let k = 0; k < supportCount; k++) dense[support[k]] = est[k];
  return { dense, samples: total, included, excluded };
}

/**
 * Combine version 2's centered-clip (CombineVersion): `iterations` steps of est from the rows'
 * nonzeros alone, float64 in a fixed order. `sum` is scratch of est's length.
 */
function centeredClipSparse(rows: SparseRow[], weights: Float64Array, tau: number, iterations: number, est: Float64Array, sum: Float64Array): void {
  const squares = Float64Array.from(rows, ({ val }) => {
    let s = 0;
    for (let i = 0; i < val.length; i++) s += val[i] * val[i];
    return s;
  });
  for (let it = 0; it < iterations; it++) {
    let vv = 0;
    for (let k = 0; k < est.length; k++) vv += est[k] * est[k];
    sum.fill(0);
    let total = 0;
    for (let a = 0; a < rows.length; a++) {
      const { pos, val } = rows[a];
      let dot = 0;
      for (let i = 0; i < pos.length; i++) dot += val[i] * est[pos[i]];
      const d2 = vv - 2 * dot + squares[a];
      const d = d2 > 0 ? Math.sqrt(d2) : 0;
      const c = weights[a] * (d > tau ? tau / d : 1);
      for (let i = 0; i < pos.length; i++) sum[pos[i]] += c * val[i];
      total += c;
    }
    for (let k = 0; k < est.length; k++) est[k] += sum[k] - total * est[k];
  }
}
