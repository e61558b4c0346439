// Fused softmax cross-entropy over a batch of logits, forward and backward together:
//   rows:   per row r, rowLoss[r] = log Σ_c exp(z[r,c] − max_r) + max_r − z[r, label_r]
//           dlogits[r,c] = (softmax(z[r])_c − [c == label_r]) / ROWS
//   total:  loss[0] = (1/ROWS) Σ_r rowLoss[r], by one workgroup in a fixed tree
// Row-parallel: LANES consecutive invocations share a row, each taking every LANES-th class, and
// combine the row max and the sums with rowMax / rowSum2 (workgroup memory or subgroups, as
// row-reduce.ts prepends). Fixed orders throughout: the result does not depend on scheduling.
// The label's entry is −(Σ_{c≠label} exp(z_c − max)) / Σ_c exp(z_c − max), not softmax − 1: for a
// confident row (1 − p = 1e-6) the f32 subtraction would keep only ~6e-8 / 1e-6 of it, and AdamW
// normalises those rounding errors into full steps, so honest GPU training drifted from the
// float64 CPU re-execution that verifies it (to 6–13 % after a few rounds, coordinator/validator.ts).
// Labels must be < C (checked on the host where the data enters). Overrides set from softmax_xent.ts.

override ROWS: u32;
override C: u32;
override WG: u32;    // a power of two
override LANES: u32;

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // (ROWS, C)
@group(0) @binding(1) var<storage, read> labels: array<u32>;        // (ROWS)
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>; // (ROWS, C)
@group(0) @binding(3) var<storage, read_write> rowLoss: array<f32>; // (ROWS)
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;    // (1): this step's slot

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wg.x + wg.y * nwg.x) * (WG / LANES) + lid / LANES;
  let lane = lid % LANES;
  let base = min(r, ROWS - 1u) * C;
  let label = labels[min(r, ROWS - 1u)];
  var mx = -3.0e38;
  for (var c = lane; c < C; c += LANES) { mx = max(mx, logits[base + c]); }
  mx = rowMax(mx, lid);
  var part = vec2f(0.0); // Σ_c exp(z − max), Σ over c ≠ label
  for (var c = lane; c < C; c += LANES) {
    let e = exp(logits[base + c] - mx);
    part += vec2f(e, select(e, 0.0, c == label));
  }
  let sums = rowSum2(part, lid);
  if (r < ROWS) {
    let scale = 1.0 / f32(ROWS);
    for (var c = lane; c < C; c += LANES) {
      let p = exp(logits[base + c] - mx) / sums.x;
      dlogits[base + c] = select(p, -sums.y / sums.x, c == label) * scale;
    }
    if (lane == 0u) { rowLoss[r] = log(sums.x) + mx - logits[base + label]; }
  }
}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn total(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  for (var r = t; r < ROWS; r += WG) { s += rowLoss[r]; }
  partial[t] = s;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) { partial[t] += partial[t + stride]; }
  }
  if (t == 0u) { loss[0] = partial[0] * (1.0 / f32(ROWS)); }
}
