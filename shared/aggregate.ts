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

// ---- the robust combine over coordinate chunks ---------------------------------------
//
// The kept updates are never laid out as dense (members × support) rows: each pass walks
// the support in chunks of CHUNK coordinates, fills a (members × chunk) float64 block from
// the sparse frames (a cursor per member), and works on it. Per coordinate the trimmed mean
// needs the rows' values in ascending order (ties by row order) only inside the kept middle:
// the values split by sign (zeros, either sign, keep row order), the trimmed ends are cut
// off by quickselect and only the middle is sorted, on typed arrays, with no closures. Every
// sum runs over the same terms in the same order as the dense formulation (rows in order,
// coordinates ascending), so the result is bit-identical to it; shared/aggregate.test.ts
// compares it with the pre-chunked code on random inputs.

const CHUNK = 2048;

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

/** A kept update as (support position, clipped value) pairs by ascending position; a repeated index keeps its last value. */
interface SparseRow {
  pos: Int32Array;
  val: Float64Array;
}

function sparseRow(indices: Uint32Array, values: Float32Array, posOf: Int32Array, scale: number): SparseRow {
  const n = indices.length;
  let order: ArrayLike<number> | null = null;
  for (let i = 1; i < n; i++) {
    if (indices[i] < indices[i - 1]) {
      // Out of order (a decoded frame never is): a stable sort keeps the last write of a repeated index last.
      order = Array.from({ length: n }, (_, j) => j).sort((a, b) => indices[a] - indices[b] || a - b);
      break;
    }
  }
  const pos = new Int32Array(n);
  const val = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = order ? order[i] : i;
    pos[i] = posOf[indices[j]];
    val[i] = values[j] * scale;
  }
  return { pos, val };
}

/** Walks the support in chunks, filling the active rows' block for each. */
class ChunkedRows {
  readonly block: Float64Array;
  private readonly cursor: Int32Array;
  constructor(
    readonly rows: SparseRow[],
    readonly supportCount: number,
  ) {
    this.block = new Float64Array(rows.length * CHUNK);
    this.cursor = new Int32Array(rows.length);
  }
  /** Calls visit(c0, len) for each chunk in order, with block[j·CHUNK + k] = row j at coordinate c0 + k for every j in active. */
  each(active: Int32Array, visit: (c0: number, len: number) => void): void {
    this.cursor.fill(0);
    for (let c0 = 0; c0 < this.supportCount; c0 += CHUNK) {
      const c1 = Math.min(this.supportCount, c0 + CHUNK);
      for (let a = 0; a < active.length; a++) {
        const j = active[a];
        const { pos, val } = this.rows[j];
        const base = j * CHUNK - c0;
        this.block.fill(0, j * CHUNK, j * CHUNK + (c1 - c0));
        let c = this.cursor[j];
        for (; c < pos.length && pos[c] < c1; c++) this.block[base + pos[c]] = val[c];
        this.cursor[j] = c;
      }
      visit(c0, c1 - c0);
    }
  }
}

/**
 * The trimmed mean of one chunk into out[c0 .. c0+len): per coordinate, over the active rows
 * (weights by position in `active`), drop the t lowest and highest (ties by row order),
 * weighted mean of the rest, summed in ascending order.
 */
class TrimmedMean {
  private readonly negV: Float64Array;
  private readonly negR: Int32Array;
  private readonly posV: Float64Array;
  private readonly posR: Int32Array;
  private readonly zeroR: Int32Array;
  constructor(m: number) {
    this.negV = new Float64Array(m);
    this.negR = new Int32Array(m);
    this.posV = new Float64Array(m);
    this.posR = new Int32Array(m);
    this.zeroR = new Int32Array(m);
  }

  chunk(block: Float64Array, active: Int32Array, weights: Float64Array, t: number, c0: number, len: number, out: Float64Array): void {
    const m = active.length;
    const { negV, negR, posV, posR, zeroR } = this;
    for (let k = 0; k < len; k++) {
      let nn = 0;
      let nz = 0;
      let np = 0;
      for (let a = 0; a < m; a++) {
        const x = block[active[a] * CHUNK + k];
        if (x < 0) ((negV[nn] = x), (negR[nn++] = a));
        else if (x > 0) ((posV[np] = x), (posR[np++] = a));
        else zeroR[nz++] = a;
      }
      // Ascending order: negatives [0, nn), zeros [nn, nn + nz), positives [nn + nz, m); keep ranks [t, m − t).
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
      // zeros (±0 tie: row order)
      from = Math.max(0, lo - nn);
      to = Math.min(nz, hi - nn);
      for (let i = from; i < to; i++) {
        const a = zeroR[i];
        ((s += weights[a] * block[active[a] * CHUNK + k]), (ws += weights[a]));
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
      out[c0 + k] = s / ws;
    }
  }
}

/**
 * Aggregate members' sparse updates into one dense float32 pseudo-gradient. Deterministic:
 * the same set of frames in any order gives a bit-identical result.
 */
export function aggregateUpdates(updates: WeightedUpdate[], paramCount: number, cfg: AggregatorConfig): AggregateResult {
  if (cfg.kind === 'mean') return meanOf(updates, paramCount);
  const { kept, excluded } = screenUpdates(updates, paramCount, cfg);
  return combineScreened(kept, excluded, paramCount, cfg);
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
): AggregateResult {
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
  // The clipped updates, as sparse rows over the support in hash order, walked chunk by chunk
  // (ChunkedRows). Float64 keeps the sums exact enough and the order fixed; the result is
  // rounded to float32 once.
  const rows = kept.map((k) => sparseRow(k.u.frame.indices, k.u.frame.values, pos, scaleOf(k)));
  const chunks = new ChunkedRows(rows, supportCount);
  const { block } = chunks;
  const trimmer = new TrimmedMean(kept.length);
  const trim = cfg.trim ?? 0.2;
  let active = Int32Array.from(kept.keys());
  if (cfg.minCosine !== undefined && trimCount(active.length, trim) >= 1) {
    // The centre (trimmed mean weighted by samples), and each row's dot with it and with itself, in one pass.
    const w = Float64Array.from(kept, (k) => k.u.frame.header.samples);
    const t = trimCount(active.length, trim);
    const centre = new Float64Array(supportCount);
    const rowDotCentre = new Float64Array(kept.length);
    const rowDotRow = new Float64Array(kept.length);
    let cc = 0;
    chunks.each(active, (c0, len) => {
      trimmer.chunk(block, active, w, t, c0, len, centre);
      for (let k = 0; k < len; k++) cc += centre[c0 + k] * centre[c0 + k];
      for (let j = 0; j < kept.length; j++) {
        let dc = rowDotCentre[j];
        let dr = rowDotRow[j];
        for (let k = 0, b = j * CHUNK; k < len; k++, b++) ((dc += block[b] * centre[c0 + k]), (dr += block[b] * block[b]));
        rowDotCentre[j] = dc;
        rowDotRow[j] = dr;
      }
    });
    const cn = Math.sqrt(cc);
    if (cn > 0) {
      const agree = active.filter((j) => rowDotCentre[j] / (Math.sqrt(rowDotRow[j]) * cn) >= cfg.minCosine!);
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
  const t = trimCount(active.length, trim);
  const est = new Float64Array(supportCount);
  const iterations = cfg.kind === 'centered-clip' ? (cfg.iterations ?? 3) : 0;
  const tau = (cfg.tau ?? 1) * med;
  // d2[a]: ‖row − est‖² of active row a, accumulated chunk by chunk in coordinate order.
  let d2 = new Float64Array(active.length);
  const distances = (c0: number, len: number) => {
    for (let a = 0; a < active.length; a++) {
      let s = d2[a];
      for (let k = 0, b = active[a] * CHUNK; k < len; k++, b++) {
        const diff = block[b] - est[c0 + k];
        s += diff * diff; // not `** 2`: plain IEEE products are the same in every engine
      }
      d2[a] = s;
    }
  };
  chunks.each(active, (c0, len) => {
    trimmer.chunk(block, active, weights, t, c0, len, est);
    if (iterations > 0) distances(c0, len);
  });
  // centered-clip: v ← v + Σ c_a·(x_a − v), c_a = w_a·min(1, τ/‖x_a − v‖); each pass also measures the next iteration's distances.
  const c = new Float64Array(active.length);
  const step = new Float64Array(CHUNK);
  for (let it = 0; it < iterations; it++) {
    for (let a = 0; a < active.length; a++) {
      const d = Math.sqrt(d2[a]);
      c[a] = weights[a] * (d > tau ? tau / d : 1);
    }
    d2 = new Float64Array(active.length);
    chunks.each(active, (c0, len) => {
      step.fill(0, 0, len);
      for (let a = 0; a < active.length; a++) {
        const ca = c[a];
        for (let k = 0, b = active[a] * CHUNK; k < len; k++, b++) step[k] += ca * (block[b] - est[c0 + k]);
      }
      for (let k = 0; k < len; k++) est[c0 + k] += step[k];
      if (it + 1 < iterations) distances(c0, len);
    });
  }
  for (let k = 0; k < supportCount; k++) dense[support[k]] = est[k];
  return { dense, samples: total, included, excluded };
}
