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
//                union of their supports > copycatCosine). Copies keep the LOWEST hash and
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

function norm(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return Math.sqrt(s);
}

/** Cosine of two sparse vectors with ascending indices (absent coordinates are zero). */
function sparseCosine(a: DecodedFrame, b: DecodedFrame, na: number, nb: number): number {
  if (na === 0 || nb === 0) return 0;
  let dot = 0;
  for (let i = 0, j = 0; i < a.indices.length && j < b.indices.length; ) {
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
 * every kept update, without the all-pairs cost over many cohorts). Where no such T exists
 * (minCos ≤ 0.5, or too little mass), every kept update is a candidate.
 */
function copycatCandidates(f: DecodedFrame, n: number, minCos: number, keptCount: number, holders: Map<number, number[]>): number[] {
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Σ a·b, in order (rows over the support's coordinates, ascending). */
function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

/**
 * Per coordinate of the support: drop the ⌊trim·m⌋ lowest and highest of the m rows' values
 * (ties by row order), weighted mean of the rest.
 */
/** Values dropped at each end of a coordinate by a trimmed mean of m rows: ⌊trim·m⌋, leaving at least one. */
const trimCount = (m: number, trim: number) => Math.min(Math.floor(trim * m), (m - 1) >> 1);

function trimmedMean(rows: Float64Array[], weights: number[], trim: number): Float64Array {
  const m = rows.length;
  const t = trimCount(m, trim);
  const est = new Float64Array(rows[0].length);
  const col = Array.from({ length: m }, (_, j) => j);
  for (let i = 0; i < est.length; i++) {
    col.sort((a, b) => rows[a][i] - rows[b][i] || a - b);
    let s = 0;
    let ws = 0;
    for (let r = t; r < m - t; r++) (s += weights[col[r]] * rows[col[r]][i]), (ws += weights[col[r]]);
    est[i] = s / ws;
  }
  return est;
}

/**
 * Aggregate members' sparse updates into one dense float32 pseudo-gradient. Deterministic:
 * the same set of frames in any order gives a bit-identical result.
 */
export function aggregateUpdates(updates: WeightedUpdate[], paramCount: number, cfg: AggregatorConfig): AggregateResult {
  const ordered = [...updates].sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const excluded: AggregateResult['excluded'] = [];
  const dense = new Float32Array(paramCount);
  if (cfg.kind === 'mean') {
    const total = ordered.reduce((s, u) => s + u.frame.header.samples, 0);
    if (total > 0) {
      for (const u of ordered) {
        const w = Math.fround(u.frame.header.samples / total);
        const { indices, values } = u.frame;
        for (let i = 0; i < indices.length; i++) dense[indices[i]] = dense[indices[i]] + w * values[i];
      }
    }
    return { dense, samples: total, included: ordered.map((u) => u.hash), excluded };
  }

  // 1. Reject.
  const copyCos = cfg.copycatCosine ?? 0.99;
  const kept: { u: WeightedUpdate; norm: number }[] = [];
  const holders = new Map<number, number[]>(); // index → positions in `kept` of the updates nonzero there
  for (const u of ordered) {
    const f = u.frame;
    const reason: ExclusionReason | null =
      f.header.paramCount !== paramCount || f.indices.length !== f.values.length || f.indices.some((i) => i >= paramCount)
        ? 'limits'
        : !f.values.every(Number.isFinite)
          ? 'not-finite'
          : kept.some((k) => k.u.hash === u.hash)
            ? 'duplicate'
            : null;
    if (reason) {
      excluded.push({ hash: u.hash, reason });
      continue;
    }
    const n = norm(f.values);
    if (n === 0 || f.header.samples === 0) excluded.push({ hash: u.hash, reason: 'empty' });
    else if (copycatCandidates(f, n, copyCos, kept.length, holders).some((i) => sparseCosine(kept[i].u.frame, f, kept[i].norm, n) > copyCos)) excluded.push({ hash: u.hash, reason: 'copycat' });
    else {
      for (const i of f.indices) holders.get(i)?.push(kept.length) ?? holders.set(i, [kept.length]);
      kept.push({ u, norm: n });
    }
  }
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
  // Clipped updates as dense rows over the support, (members, support), in hash order. Float64
  // keeps the sums exact enough and the order fixed; the result is rounded to float32 once.
  let members = kept.map((k) => {
    const row = new Float64Array(supportCount);
    const { indices, values } = k.u.frame;
    const scale = scaleOf(k);
    for (let i = 0; i < indices.length; i++) row[pos[indices[i]]] = values[i] * scale;
    return { k, row };
  });
  const trim = cfg.trim ?? 0.2;
  if (cfg.minCosine !== undefined && trimCount(members.length, trim) >= 1) {
    const centre = trimmedMean(members.map((m) => m.row), members.map((m) => m.k.u.frame.header.samples), trim);
    const cn = Math.sqrt(dot(centre, centre));
    if (cn > 0) {
      const agree = members.filter((m) => dot(m.row, centre) / (Math.sqrt(dot(m.row, m.row)) * cn) >= cfg.minCosine!);
      // Every update opposing the centre cannot happen with a trimmed mean of them, but never leave nothing.
      if (agree.length > 0) {
        for (const m of members) if (!agree.includes(m)) excluded.push({ hash: m.k.u.hash, reason: 'opposed' });
        excluded.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
        members = agree;
      }
    }
  }
  const total = members.reduce((s, m) => s + m.k.u.frame.header.samples, 0);
  const included = members.map((m) => m.k.u.hash);
  const rows = members.map((m) => m.row);
  const weights = members.map((m) => m.k.u.frame.header.samples / total);
  const est = trimmedMean(rows, weights, trim);
  if (cfg.kind === 'centered-clip') {
    const tau = (cfg.tau ?? 1) * med;
    for (let it = 0; it < (cfg.iterations ?? 3); it++) {
      const step = new Float64Array(supportCount);
      for (let j = 0; j < rows.length; j++) {
        const row = rows[j];
        let d2 = 0;
        for (let k = 0; k < supportCount; k++) {
          const diff = row[k] - est[k];
          d2 += diff * diff; // not `** 2`: plain IEEE products are the same in every engine
        }
        const d = Math.sqrt(d2);
        const c = weights[j] * (d > tau ? tau / d : 1);
        for (let k = 0; k < supportCount; k++) step[k] += c * (row[k] - est[k]);
      }
      for (let k = 0; k < supportCount; k++) est[k] += step[k];
    }
  }
  for (let k = 0; k < supportCount; k++) dense[support[k]] = est[k];
  return { dense, samples: total, included, excluded };
}
