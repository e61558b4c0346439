// Bias + optional ReLU or GELU for a (ROWS, N) row-major activation, and its backward.
//   forward:         x = act(x + bias)            in place; act = ReLU when RELU, else identity
//   relu_bias_grad:  dy = dy ⊙ [y > 0]            in place (y is the post-ReLU output)
//                    dbias[n] = Σ_rows dy[r, n]
//   bias_grad:       dbias[n] = Σ_rows dy[r, n]   (output layer: no activation)
//   gelu_forward:    x = x + bias (in place: kept as the pre-activation u), act = GELU(u)
//   gelu_bias_grad:  dy = dy ⊙ GELU'(u)           in place; dbias[n] = Σ_rows dy[r, n]
// GELU is the tanh approximation of shared/gpt.ts gelu.
// The backward sums run down a column in row order in one invocation: deterministic.
// Every override is set from bias_relu.ts.

override ROWS: u32;
override N: u32;
override RELU: bool;
override WG: u32;

@group(0) @binding(0) var<storage, read_write> x: array<f32>;    // forward: (ROWS, N)
@group(0) @binding(1) var<storage, read> bias: array<f32>;        // forward: (N)

@group(0) @binding(2) var<storage, read_write> dy: array<f32>;   // backward: (ROWS, N)
@group(0) @binding(3) var<storage, read> y: array<f32>;           // backward: (ROWS, N), post-ReLU
@group(0) @binding(4) var<storage, read_write> dbias: array<f32>; // backward: (N)
@group(0) @binding(5) var<storage, read_write> act: array<f32>;  // GELU forward: (ROWS, N) output
@group(0) @binding(6) var<storage, read> pre: array<f32>;         // GELU backward: (ROWS, N) pre-activation u

const GELU_K = 0.7978845608028654; // √(2/π)

fn gelu_tanh(u: f32) -> f32 {
  // Clamped: some tanh implementations overflow to NaN for large arguments; tanh(±10) = ±1 in f32.
  return tanh(clamp(GELU_K * (u + 0.044715 * u * u * u), -10.0, 10.0));
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * N) { return; }
  let v = x[i] + bias[i % N];
  x[i] = select(v, max(v, 0.0), RELU);
}

@compute @workgroup_size(WG)
fn relu_bias_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= N) { return; }
  var sum = 0.0;
  for (var r = 0u; r < ROWS; r++) {
    let i = r * N + n;
    var g = dy[i];
    if (y[i] <= 0.0) {
      g = 0.0;
      dy[i] = 0.0;
    }
    sum += g;
  }
  dbias[n] = sum;
}

@compute @workgroup_size(WG)
fn bias_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= N) { return; }
  var sum = 0.0;
  for (var r = 0u; r < ROWS; r++) {
    sum += dy[r * N + n];
  }
  dbias[n] = sum;
}

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * N) { return; }
  let u = x[i] + bias[i % N];
  x[i] = u;
  act[i] = 0.5 * u * (1.0 + gelu_tanh(u));
}

@compute @workgroup_size(WG)
fn gelu_bias_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= N) { return; }
  var sum = 0.0;
  for (var r = 0u; r < ROWS; r++) {
    let i = r * N + n;
    let u = pre[i];
    let t = gelu_tanh(u);
    let g = dy[i] * (0.5 * (1.0 + t) + 0.5 * u * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * 0.044715 * u * u));
    dy[i] = g;
    sum += g;
  }
  dbias[n] = sum;
}
