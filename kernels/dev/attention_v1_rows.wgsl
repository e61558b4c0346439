// Causal multi-head self-attention, scaled by 1/√hs, softmax inside, forward and backward.
// qkv (B, T, 3C) holds [q | k | v] per position with heads contiguous (hs = C / NH floats each).
//   forward:      one invocation per (b, h, t): att[b,h,t,u] = softmax_u≤t(q_t·k_u / √hs)
//                 (zero for u > t); out[b,t,h·hs+i] = Σ_u att·v_u[i]
//   backward_q:   one per (b, h, t): datt_u = dout_t·v_u, dpre[b,h,t,u] = att·(datt_u − Σ att·datt) / √hs,
//                 dq_t = Σ_u dpre·k_u
//   backward_kv:  one per (b, h, u): dk_u = Σ_{t≥u} dpre[t,u]·q_t, dv_u = Σ_{t≥u} att[t,u]·dout_t
// Splitting dq from dk/dv makes every output element the sum of one invocation: no atomics,
// results independent of scheduling. Overrides set from attention.ts.

override B: u32;
override T: u32;
override C: u32;
override NH: u32;
override WG: u32;

@group(0) @binding(0) var<storage, read> qkv: array<f32>;        // (B, T, 3C)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (B, T, C)
@group(0) @binding(2) var<storage, read_write> att: array<f32>;  // (B, NH, T, T)
@group(0) @binding(3) var<storage, read> dout: array<f32>;       // (B, T, C)
@group(0) @binding(4) var<storage, read_write> dpre: array<f32>; // (B, NH, T, T)
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>; // (B, T, 3C)

struct Item { b: u32, h: u32, t: u32, ok: bool }

fn item(gid: vec3u, nwg: vec3u) -> Item {
  let i = gid.x + gid.y * nwg.x * WG;
  return Item(i / (NH * T), (i / T) % NH, i % T, i < B * NH * T);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let it = item(gid, nwg);
  if (!it.ok) { return; }
  let hs = C / NH;
  let scale = inverseSqrt(f32(hs));
  let q = (it.b * T + it.t) * 3u * C + it.h * hs;
  let a = ((it.b * NH + it.h) * T + it.t) * T;
  var mx = -3.0e38;
  for (var u = 0u; u <= it.t; u++) {
    let k = (it.b * T + u) * 3u * C + C + it.h * hs;
    var s = 0.0;
    for (var i = 0u; i < hs; i++) { s += qkv[q + i] * qkv[k + i]; }
    s *= scale;
    att[a + u] = s;
    mx = max(mx, s);
  }
  var sum = 0.0;
  for (var u = 0u; u <= it.t; u++) {
    let e = exp(att[a + u] - mx);
    att[a + u] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var u = 0u; u <= it.t; u++) { att[a + u] *= inv; }
  for (var u = it.t + 1u; u < T; u++) { att[a + u] = 0.0; }
  let o = (it.b * T + it.t) * C + it.h * hs;
  for (var i = 0u; i < hs; i++) {
    var s = 0.0;
    for (var u = 0u; u <= it.t; u++) { s += att[a + u] * qkv[(it.b * T + u) * 3u * C + 2u * C + it.h * hs + i]; }
    out[o + i] = s;
  }
}

@compute @workgroup_size(WG)
fn backward_q(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let it = item(gid, nwg);
  if (!it.ok) { return; }
  let hs = C / NH;
  let scale = inverseSqrt(f32(hs));
  let o = (it.b * T + it.t) * C + it.h * hs;
  let a = ((it.b * NH + it.h) * T + it.t) * T;
  var dot = 0.0;
  for (var u = 0u; u <= it.t; u++) {
    let v = (it.b * T + u) * 3u * C + 2u * C + it.h * hs;
    var s = 0.0;
    for (var i = 0u; i < hs; i++) { s += dout[o + i] * qkv[v + i]; }
    dpre[a + u] = s;
    dot += att[a + u] * s;
  }
  for (var u = 0u; u <= it.t; u++) { dpre[a + u] = att[a + u] * (dpre[a + u] - dot) * scale; }
  for (var u = it.t + 1u; u < T; u++) { dpre[a + u] = 0.0; }
  let q = (it.b * T + it.t) * 3u * C + it.h * hs;
  for (var i = 0u; i < hs; i++) {
    var s = 0.0;
    for (var u = 0u; u <= it.t; u++) { s += dpre[a + u] * qkv[(it.b * T + u) * 3u * C + C + it.h * hs + i]; }
    dqkv[q + i] = s;
  }
}

@compute @workgroup_size(WG)
fn backward_kv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let it = item(gid, nwg);
  if (!it.ok) { return; }
  let u = it.t;
  let hs = C / NH;
  let k = (it.b * T + u) * 3u * C + C + it.h * hs;
  let head = (it.b * NH + it.h) * T;
  for (var i = 0u; i < hs; i++) {
    var dk = 0.0;
    var dv = 0.0;
    for (var t = u; t < T; t++) {
      let a = (head + t) * T + u;
      dk += dpre[a] * qkv[(it.b * T + t) * 3u * C + it.h * hs + i];
      dv += att[a] * dout[(it.b * T + t) * C + it.h * hs + i];
    }
    dqkv[k + i] = dk;
    dqkv[k + C + i] = dv;
  }
}
