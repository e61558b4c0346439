// Layernorm over the last dimension of a (ROWS, C) row-major tensor, and its backward:
//   forward:          y = (x − μ)·σ⁻¹·γ + β,  σ⁻¹ = 1/√(var + EPS) (biased variance, two passes);
//                     stats[r] = (μ, σ⁻¹) kept for the backward
//   backward_dx:      n = (x − μ)·σ⁻¹, d = dy·γ
//                     dx = σ⁻¹·(d − mean_c(d) − n·mean_c(d·n)); added to dx when ACCUMULATE
//                     (the residual stream's gradient takes it in place)
//   backward_params:  dγ[c] = Σ_r dy·n,  dβ[c] = Σ_r dy
// Row-parallel: LANES consecutive invocations share a row (a column for backward_params), each
// taking every LANES-th element, and combine their partial sums with rowSum2 — through
// workgroup memory or subgroup shuffles, whichever reduction row-reduce.ts prepends. Fixed
// orders throughout: deterministic, no atomics. A row past ROWS reads row ROWS − 1 (its lanes
// still join the reductions) and stores nothing.
// Overrides set from layernorm.ts; EPS is shared/gpt.ts LN_EPS; WG and LANES from the reduction config.

override ROWS: u32;
override C: u32;
override EPS: f32;
override ACCUMULATE: bool;
override WG: u32;
override LANES: u32;

@group(0) @binding(0) var<storage, read> x: array<f32>;            // (ROWS, C)
@group(0) @binding(1) var<storage, read> gamma: array<f32>;        // (C)
@group(0) @binding(2) var<storage, read> beta: array<f32>;         // (C)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // (ROWS, C)
@group(0) @binding(4) var<storage, read_write> stats: array<vec2f>; // (ROWS): μ, σ⁻¹
@group(0) @binding(5) var<storage, read> dy: array<f32>;           // (ROWS, C)
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;     // (ROWS, C)
@group(0) @binding(7) var<storage, read_write> dgamma: array<f32>; // (C)
@group(0) @binding(8) var<storage, read_write> dbeta: array<f32>;  // (C)

// The row (or column) this invocation's lanes share: flat workgroup index × rows per workgroup.
fn unit(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.x + wg.y * nwg.x) * (WG / LANES) + lid / LANES;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = unit(wg, nwg, lid);
  let lane = lid % LANES;
  let base = min(r, ROWS - 1u) * C;
  var s = 0.0;
  for (var c = lane; c < C; c += LANES) { s += x[base + c]; }
  let mean = rowSum2(vec2f(s, 0.0), lid).x / f32(C);
  var v = 0.0;
  for (var c = lane; c < C; c += LANES) {
    let d = x[base + c] - mean;
    v += d * d;
  }
  let rstd = inverseSqrt(rowSum2(vec2f(v, 0.0), lid).x / f32(C) + EPS);
  if (r < ROWS) {
    for (var c = lane; c < C; c += LANES) { y[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c]; }
    if (lane == 0u) { stats[r] = vec2f(mean, rstd); }
  }
}

@compute @workgroup_size(WG)
fn backward_dx(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = unit(wg, nwg, lid);
  let lane = lid % LANES;
  let rr = min(r, ROWS - 1u);
  let base = rr * C;
  let s = stats[rr];
  var part = vec2f(0.0); // Σ d, Σ d·n over this lane's columns
  for (var c = lane; c < C; c += LANES) {
    let d = dy[base + c] * gamma[c];
    part += vec2f(d, d * (x[base + c] - s.x) * s.y);
  }
  let means = rowSum2(part, lid) / f32(C);
  if (r < ROWS) {
    for (var c = lane; c < C; c += LANES) {
      let n = (x[base + c] - s.x) * s.y;
      let g = s.y * (dy[base + c] * gamma[c] - means.x - n * means.y);
      dx[base + c] = select(g, dx[base + c] + g, ACCUMULATE);
    }
  }
}

@compute @workgroup_size(WG)
fn backward_params(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = unit(wg, nwg, lid);
  let lane = lid % LANES;
  let cc = min(c, C - 1u);
  var part = vec2f(0.0); // Σ dy·n, Σ dy over this lane's rows
  for (var r = lane; r < ROWS; r += LANES) {
    let s = stats[r];
    let g = dy[r * C + cc];
    part += vec2f(g * (x[r * C + cc] - s.x) * s.y, g);
  }
  let sums = rowSum2(part, lid);
  if (c < C && lane == 0u) {
    dgamma[c] = sums.x;
    dbeta[c] = sums.y;
  }
}
