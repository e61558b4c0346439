// Fused causal multi-head self-attention, flash-attention style, forward and backward.
// Scores, softmax and the weighted sum of values happen in one pass over the keys with an online
// softmax (running max m, running sum l, accumulator rescaled when m grows), so no (T, T) matrix
// ever reaches global memory: the backward recomputes the probabilities from the output's
// log-sum-exp, one float per row. Memory is linear in T; work stays quadratic (causal: T²/2).
// qkv (B, T, 3C) holds [q | k | v] per position with heads contiguous (HS = C / NH floats each).
//   forward:      per query row (b, h, t), over keys u ≤ t in blocks of KB:
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
// same loops together). Streamed rows (k, v; or q, dout, lse, D) reach the invocations one of
// two ways, chosen per adapter by the autotune through TILED, as in matmul.wgsl:
//   TILED   (LANES 1) the workgroup stages BK streamed rows at a time in workgroup memory and
//           every invocation reads them there (GPUs: each row leaves storage once per workgroup)
//   !TILED  every invocation reads them from storage through the cache, no barriers (CPU
//           adapters such as SwiftShader, where a barrier costs more than the loads it saves)
// attention.ts prepends the consts HS, HS4 = ⌈HS / 4⌉, LANES and HSL = ⌈HS4 / LANES⌉ (private
// arrays need a const size) and the storage access (attention_load_f32.wgsl or
// attention_load_vec4.wgsl). Rows past T still join every barrier; they store nothing.

override B: u32;
override T: u32;
override C: u32;
override NH: u32;
override WG: u32;
override TILED: bool;
override BK: u32 = 1u; // streamed rows per workgroup-memory stage (TILED)

const KB = 8u; // keys scored per online-softmax step: the accumulator is rescaled once per block
override ROWS_PER_WG: u32 = WG / LANES;

@group(0) @binding(2) var<storage, read_write> lse: array<f32>; // (B, NH, T): log Σ exp(s) of each query row
@group(0) @binding(4) var<storage, read_write> dd: array<f32>;  // (B, NH, T): D = dout·out of each query row

var<workgroup> tileA: array<vec4f, BK * HS4>; // k rows (forward, backward_q) or q rows (backward_kv)
var<workgroup> tileB: array<vec4f, BK * HS4>; // v rows, or dout rows
var<workgroup> tileS: array<vec2f, BK>;       // backward_kv: (lse, D) of the staged q rows

// This invocation's quads of its row's operands and accumulators: index i is quad lane + LANES·i.
var<private> ra: array<vec4f, HSL>;
var<private> rb: array<vec4f, HSL>;
var<private> acc0: array<vec4f, HSL>;
var<private> acc1: array<vec4f, HSL>;
var<private> lane: u32;
// Float index of position 0's streamed row in this head (k or q), of its dout row, of its lse / D.
var<private> base0: u32;
var<private> doutBase0: u32;
var<private> statBase0: u32;

fn quad(i: u32) -> u32 { return lane + LANES * i; }
fn qkvRow(b: u32, t: u32) -> u32 { return (b * T + t) * 3u * C; }
fn outRow(b: u32, t: u32) -> u32 { return (b * T + t) * C; }
fn hsum(v: vec4f) -> f32 { return v.x + v.y + v.z + v.w; }

// Quad d of streamed row u: k (forward, backward_q) or q (backward_kv), from the staged tile
// (TILED) or storage; 0 past the head.
fn streamedA(u: u32, d: u32) -> vec4f {
  if (d >= HS4) { return vec4f(0.0); }
  if (TILED) { return tileA[(u % BK) * HS4 + d]; }
  return ldQkv(base0 + u * 3u * C, d);
}

// The partner rows: v (C floats after k in qkv) in forward and backward_q, dout in backward_kv.
fn streamedV(u: u32, d: u32) -> vec4f {
  if (d >= HS4) { return vec4f(0.0); }
  if (TILED) { return tileB[(u % BK) * HS4 + d]; }
  return ldQkv(base0 + u * 3u * C + C, d);
}

fn streamedDout(u: u32, d: u32) -> vec4f {
  if (d >= HS4) { return vec4f(0.0); }
  if (TILED) { return tileB[(u % BK) * HS4 + d]; }
  return ldDout(doutBase0 + u * C, d);
}

// Stages k and v rows u0 … u0+BK−1 (zeros past T). Call from uniform control flow.
fn stageKV(u0: u32, lid: u32) {
  workgroupBarrier(); // the previous stage has been read
  for (var e = lid; e < BK * HS4; e += WG) {
    let u = u0 + e / HS4;
    let d = e % HS4;
    var k = vec4f(0.0);
    var v = vec4f(0.0);
    if (u < T) {
      k = ldQkv(base0 + u * 3u * C, d);
      v = ldQkv(base0 + u * 3u * C + C, d);
    }
    tileA[e] = k;
    tileB[e] = v;
  }
  workgroupBarrier();
}

// Stages q and dout rows t0 … t0+BK−1 and their (lse, D), zeros past T. Uniform control flow.
fn stageQ(t0: u32, lid: u32) {
  workgroupBarrier();
  for (var e = lid; e < BK * HS4; e += WG) {
    let t = t0 + e / HS4;
    let d = e % HS4;
    var q = vec4f(0.0);
    var g = vec4f(0.0);
    if (t < T) {
      q = ldQkv(base0 + t * 3u * C, d);
      g = ldDout(doutBase0 + t * C, d);
    }
    tileA[e] = q;
    tileB[e] = g;
  }
  for (var e = lid; e < BK; e += WG) {
    let t = min(t0 + e, T - 1u);
    tileS[e] = select(vec2f(0.0), vec2f(lse[statBase0 + t], dd[statBase0 + t]), t0 + e < T);
  }
  workgroupBarrier();
}

// This invocation's share of x·(streamed row u), x one of the private row arrays.
fn partialDot(x: ptr<private, array<vec4f, HSL>>, u: u32) -> f32 {
  var s = vec4f(0.0);
  for (var i = 0u; i < HSL; i++) { s += (*x)[i] * streamedA(u, quad(i)); }
  return hsum(s);
}

// This invocation's quads of the head row at float `row` of qkv, scaled.
fn loadQkvRow(x: ptr<private, array<vec4f, HSL>>, row: u32, scale: f32) {
  for (var i = 0u; i < HSL; i++) {
    var v = vec4f(0.0);
    if (quad(i) < HS4) { v = ldQkv(row, quad(i)) * scale; }
    (*x)[i] = v;
  }
}

// This invocation's row (query row t, or key row u in backward_kv) and lane. The workgroup's
// first row, wg.x · ROWS_PER_WG, is computed apart from it: the uniformity analysis must see
// that the loops holding barriers depend on the workgroup alone.
fn myRow(wg: vec3u, lid: u32) -> u32 {
  lane = lid % LANES;
  return wg.x * ROWS_PER_WG + lid / LANES;
}

// ---- forward: ra = q·(1/√HS), acc0 = Σ p v (unnormalised), running max m and sum l ----
var<private> m: f32;
var<private> l: f32;

// Keys [j0, j1), j1 − j0 ≤ KB: score them (in pairs, one row reduction each), raise the running
// max once, accumulate.
fn onlineBlock(j0: u32, j1: u32, lid: u32) {
  var s: array<f32, KB>;
  var mx = m;
  for (var j = j0; j < j1; j += 2u) {
    var part = vec2f(partialDot(&ra, j), 0.0);
    if (j + 1u < j1) { part.y = partialDot(&ra, j + 1u); }
    let pair = rowSum2(part, lid);
    s[j - j0] = pair.x;
    mx = max(mx, pair.x);
    if (j + 1u < j1) {
      s[j + 1u - j0] = pair.y;
      mx = max(mx, pair.y);
    }
  }
  let corr = exp(m - mx); // 0 on the first block (m = −3e38), 1 when the max did not move
  l *= corr;
  for (var i = 0u; i < HSL; i++) { acc0[i] *= corr; }
  for (var j = j0; j < j1; j++) {
    let p = exp(s[j - j0] - mx);
    l += p;
    for (var i = 0u; i < HSL; i++) { acc0[i] += p * streamedV(j, quad(i)); }
  }
  m = mx;
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
  loadQkvRow(&ra, qkvRow(b, min(t, T - 1u)) + h * HS, inverseSqrt(f32(HS)));
  for (var i = 0u; i < HSL; i++) { acc0[i] = vec4f(0.0); }
  m = -3.0e38;
  l = 0.0;
  if (TILED) {
    for (var u0 = 0u; u0 <= last; u0 += BK) {
      stageKV(u0, lid);
      if (live) {
        let end = min(u0 + BK, t + 1u);
        for (var j = u0; j < end; j += KB) { onlineBlock(j, min(j + KB, end), lid); }
      }
    }
  } else if (live) {
    for (var j = 0u; j <= t; j += KB) { onlineBlock(j, min(j + KB, t + 1u), lid); }
  }
  if (live) {
    let inv = 1.0 / l;
    let o = outRow(b, t) + h * HS;
    for (var i = 0u; i < HSL; i++) {
      if (quad(i) < HS4) { stOut(o, quad(i), acc0[i] * inv); }
    }
    if (lane == 0u) { lse[(b * NH + h) * T + t] = m + log(l); }
  }
}

// ---- backward_q: ra = q·(1/√HS), rb = dout_t, acc0 = Σ ds k ----
fn backwardQStep(u: u32, rowLse: f32, D: f32, lid: u32) {
  var dv = vec4f(0.0);
  for (var i = 0u; i < HSL; i++) { dv += rb[i] * streamedV(u, quad(i)); }
  let sd = rowSum2(vec2f(partialDot(&ra, u), hsum(dv)), lid); // (s, dout·v)
  let ds = exp(sd.x - rowLse) * (sd.y - D);
  for (var i = 0u; i < HSL; i++) { acc0[i] += ds * streamedA(u, quad(i)); }
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
  let q = qkvRow(b, tt) + h * HS;
  let o = outRow(b, tt) + h * HS;
  loadQkvRow(&ra, q, scale);
  var dsum = vec4f(0.0);
  for (var i = 0u; i < HSL; i++) {
    rb[i] = vec4f(0.0);
    if (quad(i) < HS4) {
      rb[i] = ldDout(o, quad(i));
      dsum += rb[i] * ldOut(o, quad(i));
    }
    acc0[i] = vec4f(0.0);
  }
  let D = rowSum2(vec2f(hsum(dsum), 0.0), lid).x;
  let row = (b * NH + h) * T + tt;
  let rowLse = lse[row];
  if (TILED) {
    for (var u0 = 0u; u0 <= last; u0 += BK) {
      stageKV(u0, lid);
      if (live) {
        for (var u = u0; u < min(u0 + BK, t + 1u); u++) { backwardQStep(u, rowLse, D, lid); }
      }
    }
  } else if (live) {
    for (var u = 0u; u <= t; u++) { backwardQStep(u, rowLse, D, lid); }
  }
  if (live) {
    for (var i = 0u; i < HSL; i++) {
      if (quad(i) < HS4) { stDqkv(q, quad(i), acc0[i] * scale); }
    }
    if (lane == 0u) { dd[row] = D; }
  }
}

// ---- backward_kv: ra = k_u·(1/√HS), rb = v_u, acc0 = Σ ds q (dk), acc1 = Σ p dout (dv) ----
// Streamed rows are q (tileA / qkv) and dout (tileB / dout), with (lse, D) in tileS.
fn streamedStats(t: u32) -> vec2f {
  if (TILED) { return tileS[t % BK]; }
  return vec2f(lse[statBase0 + t], dd[statBase0 + t]);
}

fn backwardKVStep(t: u32, lid: u32) {
  var dv = vec4f(0.0);
  for (var i = 0u; i < HSL; i++) { dv += rb[i] * streamedDout(t, quad(i)); }
  let sd = rowSum2(vec2f(partialDot(&ra, t), hsum(dv)), lid); // (s, dout_t·v_u)
  let st = streamedStats(t);
  let p = exp(sd.x - st.x);
  let ds = p * (sd.y - st.y);
  for (var i = 0u; i < HSL; i++) {
    acc0[i] += ds * streamedA(t, quad(i));
    acc1[i] += p * streamedDout(t, quad(i));
  }
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
  let k = qkvRow(b, min(u, T - 1u)) + C + h * HS;
  loadQkvRow(&ra, k, scale);
  loadQkvRow(&rb, k + C, 1.0);
  for (var i = 0u; i < HSL; i++) {
    acc0[i] = vec4f(0.0);
    acc1[i] = vec4f(0.0);
  }
  if (TILED) {
    // The workgroup's first key row sees queries from itself on: start at its stage.
    for (var t0 = first / BK * BK; t0 < T; t0 += BK) {
      stageQ(t0, lid);
      if (live) {
        for (var t = max(t0, u); t < min(t0 + BK, T); t++) { backwardKVStep(t, lid); }
      }
    }
  } else if (live) {
    for (var t = u; t < T; t++) { backwardKVStep(t, lid); }
  }
  if (live) {
    for (var i = 0u; i < HSL; i++) {
      if (quad(i) < HS4) {
        stDqkv(k, quad(i), acc0[i] * scale);
        stDqkv(k + C, quad(i), acc1[i]);
      }
    }
  }
}
