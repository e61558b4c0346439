// The robust combine as it was before issue 17 (dense members × support rows, a closure
// sort per coordinate): kept only as the oracle that shared/aggregate.test.ts compares the
// chunked, typed-array aggregateUpdates with, bit for bit, on random inputs. Not used by
// the platform.
import type { DecodedFrame } from './codec.ts';
import { leaveOneOutFilter, type AggregateResult, type AggregatorConfig, type ExclusionReason, type WeightedUpdate } from './aggregate.ts';

function norm(values: Float32Array): number {
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
    for (let r = t; r < m - t; r++) ((s += weights[col[r]] * rows[col[r]][i]), (ws += weights[col[r]]));
    est[i] = s / ws;
  }
  return est;
}

/**
 * Aggregate members' sparse updates into one dense float32 pseudo-gradient. Deterministic:
 * the same set of frames in any order gives a bit-identical result.
 */
export function aggregateUpdatesDense(updates: WeightedUpdate[], paramCount: number, cfg: AggregatorConfig): AggregateResult {
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
  let kept: { u: WeightedUpdate; norm: number }[] = [];
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
    else if (copycatCandidates(f, n, copyCos, kept.length, holders).some((i) => sparseCosine(kept[i].u.frame, f, kept[i].norm, n) > copyCos))
      excluded.push({ hash: u.hash, reason: 'copycat' });
    else {
      for (const i of f.indices) holders.get(i)?.push(kept.length) ?? holders.set(i, [kept.length]);
      kept.push({ u, norm: n });
    }
  }
  // The leave-one-out vote is the same code as aggregateUpdates' (not what the chunking changed).
  kept = leaveOneOutFilter(kept, excluded, cfg);
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
    const centre = trimmedMean(
      members.map((m) => m.row),
      members.map((m) => m.k.u.frame.header.samples),
      trim,
    );
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
