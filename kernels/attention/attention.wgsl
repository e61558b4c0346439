// Fused causal multi-head self-attention, flash-attention style, forward and backward.
// Scores, softmax and the weighted sum of values happen in one pass over the keys with an online
// softmax (running max m, running sum l, accumulator rescaled when m grows), so no (T, T) matrix
// ever reaches global memory: the backward recomputes the probabilities from the output's
// log-sum-exp, one float per row. Memory is linear in T; work stays quadratic (causal: T²/2).
// qkv (B, T, 3C) holds [q | k | v] per position with heads contiguous (HS = C / NH floats each).
//   forward:      per query row (b, h, t), over keys u ≤ t in blocks of KB = 4:
//                 s_u = q_t·k_u / √HS;  out_t = Σ_u softmax(s)_u v_u;  lse_t = log Σ_u exp(s_u)
//   backward_q:   per query row: D_t = dout_t·out_t, p_u = exp(s_u − lse_t),
//                 ds_u = p_u (dout_t·v_u − D_t);  dq_t = Σ_u ds_u k_u / √HS; writes D
//   backward_kv:  per key row u, over t ≥ u:  dv_u = Σ_t p dout_t;  dk_u = Σ_t ds q_t / √HS
// Every output element is the sum of one row's invocations in a fixed order: no atomics,
// results independent of scheduling. A workgroup is WG / LANES consecutive rows of one (b, h);
// grid (⌈T / (WG / LANES)⌉, B·NH).
// A row belongs to LANES consecutive invocations, each owning the head's quads (vec4s)
// d ≡ lane (mod LANES), combined by rowSum2 (prepended by attention.ts: the identity when LANES
// is 1, subgroup shuffles otherwise — a row is then a whole subgroup, so its lanes run the
// same loops together). An invocation holds its share of a row (≤ 16 quads) as a Row: four
// mat4x4f values, not an indexed array, so that every access has a constant offset and stays in
// registers (SwiftShader: about 2× faster than a private array, kernels/dev/attention_unroll_probe.ts).
// Streamed rows (k, v; or q, dout, lse, D) reach the invocations one of two ways, chosen per
// adapter by the autotune through TILED, as in matmul.wgsl:
//   TILED   (LANES 1) the workgroup stages BK streamed rows at a time in workgroup memory and
//           every invocation reads them there (GPUs: each row leaves storage once per workgroup)
//   !TILED  every invocation reads them from storage through the cache, no barriers (CPU
//           adapters such as SwiftShader, where a barrier costs more than the loads it saves)
// attention.ts prepends the consts HS, HS4 = ⌈HS / 4⌉, LANES and HC = chunks of 4 quads per
// lane (1 … 4; it refuses heads wider than 64 floats per lane) and the storage access
// (attention_load_f32.wgsl or attention_load_vec4.wgsl). Every entry point binds all six
// buffers (one layout; each touches only its own). Rows past T still join every barrier; they
// store nothing.

override B: u32;
override T: u32;
override C: u32;
override NH: u32;
override WG: u32;
override TILED: bool;
override BK: u32 = 1u; // streamed rows per workgroup-memory stage (TILED)
override ROWS_PER_WG: u32 = WG / LANES;

const KB = 4u; // keys per online-softmax step (one vec4 of scores): the accumulator is rescaled once per block

@group(0) @binding(2) var<storage, read_write> lse: array<f32>; // (B, NH, T): log Σ exp(s) of each query row
@group(0) @binding(4) var<storage, read_write> dd: array<f32>;  // (B, NH, T): D = dout·out of each query row

var<workgroup> tileA: array<vec4f, BK * HS4>; // k rows (forward, backward_q) or q rows (backward_kv)
var<workgroup> tileB: array<vec4f, BK * HS4>; // v rows, or dout rows
var<workgroup> tileS: array<vec2f, BK>;       // backward_kv: (lse, D) of the staged q rows

// An invocation's share of a head row: chunk c, column j is quad lane + LANES·(4c + j); chunks
// from HC on are never touched (HC is a const: those branches fold away).
struct Row { c0: mat4x4f, c1: mat4x4f, c2: mat4x4f, c3: mat4x4f }

var<private> lane: u32;
// Float index of position 0's streamed row in this head (k or q), of its dout row, of its lse / D.
var<private> base0: u32;
var<private> doutBase0: u32;
var<private> statBase0: u32;

fn quad(i: u32) -> u32 { return select(lane + LANES * i, i, LANES == 1u); }
fn qkvRow(b: u32, t: u32) -> u32 { return (b * T + t) * 3u * C; }
fn outRow(b: u32, t: u32) -> u32 { return (b * T + t) * C; }
fn hsum(v: vec4f) -> f32 { return v.x + v.y + v.z + v.w; }

fn rowScale(a: Row, s: f32) -> Row {
  var r = Row(a.c0 * s, mat4x4f(), mat4x4f(), mat4x4f());
  if (HC > 1u) { r.c1 = a.c1 * s; }
  if (HC > 2u) { r.c2 = a.c2 * s; }
  if (HC > 3u) { r.c3 = a.c3 * s; }
  return r;
}

// y + a·x
fn rowAxpy(y: Row, a: f32, x: Row) -> Row {
  var r = Row(y.c0 + x.c0 * a, mat4x4f(), mat4x4f(), mat4x4f());
  if (HC > 1u) { r.c1 = y.c1 + x.c1 * a; }
  if (HC > 2u) { r.c2 = y.c2 + x.c2 * a; }
  if (HC > 3u) { r.c3 = y.c3 + x.c3 * a; }
  return r;
}

fn chunkDot(a: mat4x4f, b: mat4x4f) -> vec4f { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]; }

// This invocation's share of a·b (rowSum2 completes it across lanes).
fn rowDot(a: Row, b: Row) -> f32 {
  var s = chunkDot(a.c0, b.c0);
  if (HC > 1u) { s += chunkDot(a.c1, b.c1); }
  if (HC > 2u) { s += chunkDot(a.c2, b.c2); }
  if (HC > 3u) { s += chunkDot(a.c3, b.c3); }
  return hsum(s);
}

// Where a row's quads come from: storage `src` (0 qkv, 1 dout, 2 out) at float index `at`, or,
// when `tile` is 1 (tileA) or 2 (tileB) and the feed is TILED, the staged copy of streamed row u.
struct From { src: u32, at: u32, tile: u32, u: u32 }

fn quadFrom(f: From, d: u32) -> vec4f {
  if (d >= HS4) { return vec4f(0.0); }
  if (TILED && f.tile != 0u) {
    let i = (f.u % BK) * HS4 + d;
    return select(tileA[i], tileB[i], f.tile == 2u);
  }
  if (f.src == 1u) { return ldDout(f.at, d); }
  if (f.src == 2u) { return ldOut(f.at, d); }
  return ldQkv(f.at, d);
}

fn chunkFrom(f: From, c: u32) -> mat4x4f {
  return mat4x4f(quadFrom(f, quad(4u * c)), quadFrom(f, quad(4u * c + 1u)), quadFrom(f, quad(4u * c + 2u)), quadFrom(f, quad(4u * c + 3u)));
}

// This invocation's share of a row.
fn rowFrom(f: From) -> Row {
  var r = Row(chunkFrom(f, 0u), mat4x4f(), mat4x4f(), mat4x4f());
  if (HC > 1u) { r.c1 = chunkFrom(f, 1u); }
  if (HC > 2u) { r.c2 = chunkFrom(f, 2u); }
  if (HC > 3u) { r.c3 = chunkFrom(f, 3u); }
  return r;
}

// The head row at float `at` of storage src (0 qkv, 1 dout, 2 out).
fn ownRow(at: u32, src: u32) -> Row { return rowFrom(From(src, at, 0u, 0u)); }

// Streamed row u: which 0 is k (q in backward_kv), 1 is v, 2 is dout.
fn streamedRow(u: u32, which: u32) -> Row {
  if (which == 2u) { return rowFrom(From(1u, doutBase0 + u * C, 2u, u)); }
  return rowFrom(From(0u, base0 + u * 3u * C + which * C, 1u + which, u));
}

fn storeChunk(row: u32, c: u32, x: mat4x4f, toOut: bool) {
  for (var j = 0u; j < 4u; j++) {
    let d = quad(4u * c + j);
    if (d < HS4) {
      if (toOut) { stOut(row, d, x[j]); } else { stDqkv(row, d, x[j]); }
    }
  }
}

// Writes this invocation's share of x to the head row at float `row` of out (or of dqkv).
fn storeRow(row: u32, x: Row, toOut: bool) {
  storeChunk(row, 0u, x.c0, toOut);
  if (HC > 1u) { storeChunk(row, 1u, x.c1, toOut); }
  if (HC > 2u) { storeChunk(row, 2u, x.c2, toOut); }
  if (HC > 3u) { storeChunk(row, 3u, x.c3, toOut); }
}

// Stages streamed rows u0 … u0+BK−1, zeros past T: k and v, or (kv) q, dout and (lse, D).
// Call from uniform control flow.
fn stage(u0: u32, lid: u32, kv: bool) {
  workgroupBarrier(); // the previous stage has been read
  for (var e = lid; e < BK * HS4; e += WG) {
    let u = u0 + e / HS4;
    let d = e % HS4;
    var a = vec4f(0.0);
    var b = vec4f(0.0);
    if (u < T) {
      a = ldQkv(base0 + u * 3u * C, d);
      if (kv) { b = ldDout(doutBase0 + u * C, d); } else { b = ldQkv(base0 + u * 3u * C + C, d); }
    }
    tileA[e] = a;
    tileB[e] = b;
  }
  if (kv) {
    for (var e = lid; e < BK; e += WG) {
      let u = min(u0 + e, T - 1u);
      tileS[e] = select(vec2f(0.0), vec2f(lse[statBase0 + u], dd[statBase0 + u]), u0 + e < T);
    }
  }
  workgroupBarrier();
}

// This invocation's row (query row t, or key row u in backward_kv) and lane. The workgroup's
// first row, wg.x · ROWS_PER_WG, is computed apart from it: the uniformity analysis must see
// that the loops holding barriers depend on the workgroup alone.
fn myRow(wg: vec3u, lid: u32) -> u32 {
  lane = lid % LANES;
  return wg.x * ROWS_PER_WG + lid / LANES;
}

// ---- forward ----
struct Online { o: Row, m: f32, l: f32 } // Σ p v (unnormalised), running max and sum

// Keys j0 … j0+KB−1, those ≥ end masked: score them (q pre-scaled by 1/√HS), raise the running max
// once, accumulate.
fn onlineBlock(st: Online, q: Row, j0: u32, end: u32, lid: u32) -> Online {
  let k0 = streamedRow(j0, 0u);
  let k1 = streamedRow(j0 + 1u, 0u);
  let k2 = streamedRow(j0 + 2u, 0u);
  let k3 = streamedRow(j0 + 3u, 0u);
  let s01 = rowSum2(vec2f(rowDot(q, k0), rowDot(q, k1)), lid);
  let s23 = rowSum2(vec2f(rowDot(q, k2), rowDot(q, k3)), lid);
  let live = vec4<bool>(j0 < end, j0 + 1u < end, j0 + 2u < end, j0 + 3u < end);
  let s = select(vec4f(-3.0e38), vec4f(s01, s23), live);
  let mx = max(st.m, max(max(s.x, s.y), max(s.z, s.w)));
  let corr = exp(st.m - mx); // 0 on the first block (m = −3e38), 1 when the max did not move
  let p = select(vec4f(0.0), exp(s - mx), live);
  var o = rowScale(st.o, corr);
  o = rowAxpy(o, p.x, streamedRow(j0, 1u));
  o = rowAxpy(o, p.y, streamedRow(j0 + 1u, 1u));
  o = rowAxpy(o, p.z, streamedRow(j0 + 2u, 1u));
  o = rowAxpy(o, p.w, streamedRow(j0 + 3u, 1u));
  return Online(o, mx, st.l * corr + hsum(p));
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.y / NH;
  let h = wg.y % NH;
  let first = wg.x * ROWS_PER_WG;
  let t = myRow(wg, lid);
  let live = t < T;
  let last = min(first + ROWS_PER_WG, T) - 1u; // the workgroup's last query row: it sees keys 0 … last
  base0 = qkvRow(b, 0u) + C + h * HS;
  let q = rowScale(ownRow(qkvRow(b, min(t, T - 1u)) + h * HS, 0u), inverseSqrt(f32(HS)));
  var st = Online(rowScale(q, 0.0), -3.0e38, 0.0);
  if (TILED) {
    for (var u0 = 0u; u0 <= last; u0 += BK) {
      stage(u0, lid, false);
      if (live) {
        let end = min(u0 + BK, t + 1u);
        for (var j = u0; j < end; j += KB) { st = onlineBlock(st, q, j, end, lid); }
      }
    }
  } else if (live) {
    for (var j = 0u; j <= t; j += KB) { st = onlineBlock(st, q, j, t + 1u, lid); }
  }
  if (live) {
    storeRow(outRow(b, t) + h * HS, rowScale(st.o, 1.0 / st.l), true);
    if (lane == 0u) { lse[(b * NH + h) * T + t] = st.m + log(st.l); }
  }
}

// ---- backward_q: q pre-scaled by 1/√HS, g = dout_t, acc = Σ ds k ----
fn backwardQStep(acc: Row, q: Row, g: Row, u: u32, rowLse: f32, D: f32, lid: u32) -> Row {
  let k = streamedRow(u, 0u);
  let sd = rowSum2(vec2f(rowDot(q, k), rowDot(g, streamedRow(u, 1u))), lid); // (s, dout·v)
  return rowAxpy(acc, exp(sd.x - rowLse) * (sd.y - D), k);
}

@compute @workgroup_size(WG)
fn backward_q(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.y / NH;
  let h = wg.y % NH;
  let first = wg.x * ROWS_PER_WG;
  let t = myRow(wg, lid);
  let live = t < T;
  let tt = min(t, T - 1u);
  let last = min(first + ROWS_PER_WG, T) - 1u;
  base0 = qkvRow(b, 0u) + C + h * HS;
  let scale = inverseSqrt(f32(HS));
  let qAt = qkvRow(b, tt) + h * HS;
  let oAt = outRow(b, tt) + h * HS;
  let q = rowScale(ownRow(qAt, 0u), scale);
  let g = ownRow(oAt, 1u);
  let D = rowSum2(vec2f(rowDot(g, ownRow(oAt, 2u)), 0.0), lid).x;
  let row = (b * NH + h) * T + tt;
  let rowLse = lse[row];
  var acc = rowScale(q, 0.0);
  if (TILED) {
    for (var u0 = 0u; u0 <= last; u0 += BK) {
      stage(u0, lid, false);
      if (live) {
        for (var u = u0; u < min(u0 + BK, t + 1u); u++) { acc = backwardQStep(acc, q, g, u, rowLse, D, lid); }
      }
    }
  } else if (live) {
    for (var u = 0u; u <= t; u++) { acc = backwardQStep(acc, q, g, u, rowLse, D, lid); }
  }
  if (live) {
    storeRow(qAt, rowScale(acc, scale), false);
    if (lane == 0u) { dd[row] = D; }
  }
}

// ---- backward_kv: k pre-scaled by 1/√HS, v, dk = Σ ds q, dv = Σ p dout; streamed q, dout, (lse, D) ----
fn streamedStats(t: u32) -> vec2f {
  if (TILED) { return tileS[t % BK]; }
  return vec2f(lse[statBase0 + t], dd[statBase0 + t]);
}

struct KV { dk: Row, dv: Row }

fn backwardKVStep(acc: KV, k: Row, v: Row, t: u32, lid: u32) -> KV {
  let q = streamedRow(t, 0u);
  let g = streamedRow(t, 2u);
  let sd = rowSum2(vec2f(rowDot(k, q), rowDot(v, g)), lid); // (s, dout_t·v_u)
  let st = streamedStats(t);
  let p = exp(sd.x - st.x);
  return KV(rowAxpy(acc.dk, p * (sd.y - st.y), q), rowAxpy(acc.dv, p, g));
}

@compute @workgroup_size(WG)
fn backward_kv(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.y / NH;
  let h = wg.y % NH;
  let first = wg.x * ROWS_PER_WG;
  let u = myRow(wg, lid);
  let live = u < T;
  base0 = qkvRow(b, 0u) + h * HS;
  doutBase0 = outRow(b, 0u) + h * HS;
  statBase0 = (b * NH + h) * T;
  let scale = inverseSqrt(f32(HS));
  let kAt = qkvRow(b, min(u, T - 1u)) + C + h * HS;
  let k = rowScale(ownRow(kAt, 0u), scale);
  let v = ownRow(kAt + C, 0u);
  var acc = KV(rowScale(k, 0.0), rowScale(k, 0.0));
  if (TILED) {
    // The workgroup's first key row sees queries from itself on: start at its stage.
    for (var t0 = first / BK * BK; t0 < T; t0 += BK) {
      stage(t0, lid, true);
      if (live) {
        for (var t = max(t0, u); t < min(t0 + BK, T); t++) { acc = backwardKVStep(acc, k, v, t, lid); }
      }
    }
  } else if (live) {
    for (var t = u; t < T; t++) { acc = backwardKVStep(acc, k, v, t, lid); }
  }
  if (live) {
    storeRow(kAt, rowScale(acc.dk, scale), false);
    storeRow(kAt + C, acc.dv, false);
  }
}
