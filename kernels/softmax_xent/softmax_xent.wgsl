// Fused softmax cross-entropy over a batch of logits, forward and backward in one pass:
//   loss[0]      = (1/ROWS) Σ_r ( log Σ_c exp(z[r,c] − max_r) + max_r − z[r, label_r] )
//   dlogits[r,c] = (softmax(z[r])_c − [c == label_r]) / ROWS
// One workgroup: invocation t takes rows t, t+WG, …; the per-invocation partial losses are
// summed by a fixed tree, so the result does not depend on scheduling.
// The label's entry is −(Σ_{c≠label} exp(z_c − max)) / Σ_c exp(z_c − max), not softmax − 1: for a
// confident row (1 − p = 1e-6) the f32 subtraction would keep only ~6e-8 / 1e-6 of it, and AdamW
// normalises those rounding errors into full steps, so honest GPU training drifted from the
// float64 CPU re-execution that verifies it (to 6–13 % after a few rounds, coordinator/validator.ts).
// Labels must be < C (checked on the host where the data enters). Overrides set from softmax_xent.ts.

override ROWS: u32;
override C: u32;
override WG: u32; // power of two

@group(0) @binding(0) var<storage, read> logits: array<f32>;      // (ROWS, C)
@group(0) @binding(1) var<storage, read> labels: array<u32>;      // (ROWS)
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>; // (ROWS, C)
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;  // (1): this step's slot

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32) {
  var lossSum = 0.0;
  let scale = 1.0 / f32(ROWS);
  for (var r = t; r < ROWS; r += WG) {
    let base = r * C;
    var mx = logits[base];
    for (var c = 1u; c < C; c++) { mx = max(mx, logits[base + c]); }
    let label = labels[r];
    var sum = 0.0;
    var others = 0.0; // Σ over c ≠ label
    for (var c = 0u; c < C; c++) {
      let e = exp(logits[base + c] - mx);
      sum += e;
      if (c != label) { others += e; }
    }
    lossSum += log(sum) + mx - logits[base + label];
    for (var c = 0u; c < C; c++) {
      let p = exp(logits[base + c] - mx) / sum;
      dlogits[base + c] = select(p, -others / sum, c == label) * scale;
    }
  }
  partial[t] = lossSum;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) { partial[t] += partial[t + stride]; }
  }
  if (t == 0u) { loss[0] = partial[0] * scale; }
}
