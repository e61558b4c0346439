// Layernorm over the last dimension of a (ROWS, C) row-major tensor, and its backward:
//   forward:          y = (x − μ)·σ⁻¹·γ + β,  σ⁻¹ = 1/√(var + EPS) (biased variance);
//                     stats[r] = (μ, σ⁻¹) kept for the backward
//   backward_dx:      n = (x − μ)·σ⁻¹, d = dy·γ
//                     dx = σ⁻¹·(d − mean_c(d) − n·mean_c(d·n)); added to dx when ACCUMULATE
//                     (the residual stream's gradient takes it in place)
//   backward_params:  dγ[c] = Σ_r dy·n,  dβ[c] = Σ_r dy   (one invocation per column, rows in order)
// One invocation per row (per column for the parameter sums): deterministic, no atomics.
// Overrides set from layernorm.ts; EPS is shared/gpt.ts LN_EPS.

override ROWS: u32;
override C: u32;
override EPS: f32;
override ACCUMULATE: bool;
override WG: u32;

@group(0) @binding(0) var<storage, read> x: array<f32>;            // (ROWS, C)
@group(0) @binding(1) var<storage, read> gamma: array<f32>;        // (C)
@group(0) @binding(2) var<storage, read> beta: array<f32>;         // (C)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // (ROWS, C)
@group(0) @binding(4) var<storage, read_write> stats: array<vec2f>; // (ROWS): μ, σ⁻¹
@group(0) @binding(5) var<storage, read> dy: array<f32>;           // (ROWS, C)
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;     // (ROWS, C)
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>; // (C)
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;  // (C)

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= ROWS) { return; }
  let base = r * C;
  var mean = 0.0;
  for (var c = 0u; c < C; c++) { mean += x[base + c]; }
  mean /= f32(C);
  var v = 0.0;
  for (var c = 0u; c < C; c++) {
    let d = x[base + c] - mean;
    v += d * d;
  }
  let rstd = inverseSqrt(v / f32(C) + EPS);
  for (var c = 0u; c < C; c++) { y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c]; }
  stats[r] = vec2f(mean, rstd);
}

@compute @workgroup_size(WG)
fn backward_dx(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= ROWS) { return; }
  let base = r * C;
  let s = stats[r];
  var sumD = 0.0;
  var sumDN = 0.0;
  for (var c = 0u; c < C; c++) {
    let d = dy[base + c] * gamma[c];
    sumD += d;
    sumDN += d * (x[base + c] - s.x) * s.y;
  }
  let meanD = sumD / f32(C);
  let meanDN = sumDN / f32(C);
  for (var c = 0u; c < C; c++) {
    let n = (x[base + c] - s.x) * s.y;
    let g = s.y * (dy[base + c] * gamma[c] - meanD - n * meanDN);
    dx[base + c] = select(g, dx[base + c] + g, ACCUMULATE);
  }
}

@compute @workgroup_size(WG)
fn backward_params(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * WG;
  if (c >= C) { return; }
  var dg = 0.0;
  var db = 0.0;
  for (var r = 0u; r < ROWS; r++) {
    let s = stats[r];
    let g = dy[r * C + c];
    dg += g * (x[r * C + c] - s.x) * s.y;
    db += g;
  }
  dgamma[c] = dg;
  dbeta[c] = db;
}
