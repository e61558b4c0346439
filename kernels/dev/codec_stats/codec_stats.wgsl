// What the update codec (shared/codec.ts encodeUpdate) needs from the GPU:
//   pseudo_grad:  v = residual + (start − current)   the round's pseudo-gradient Δ = θ_r − θ_local
//                 plus the error-feedback residual e: the vector the codec compresses. COUNT floats.
//   chunk_stats:  per chunk of CHUNK values of v (the last may be shorter), one workgroup:
//                 maxabs[c] = max |v|, hist[c, j] = #{ i : bin(|v_i|) = j } with
//                 bin(a) = min(NBINS − 1, floor(a / maxabs · NBINS)). From these the host picks,
//                 per chunk, the lowest bin edge that keeps ≥ k values (codec_stats.ts
//                 chunkThresholds) and reads back only the candidates above it.
// Max by a fixed tree; counts by workgroup atomics (integer adds: order does not matter).
// Overrides set from codec_stats.ts.

const NBINS = 32u;

override COUNT: u32;
override CHUNK: u32;
override WG: u32; // a power of two

@group(0) @binding(0) var<storage, read> start: array<f32>;        // (COUNT)
@group(0) @binding(1) var<storage, read> current: array<f32>;      // (COUNT)
@group(0) @binding(2) var<storage, read> residual: array<f32>;     // (COUNT)
@group(0) @binding(3) var<storage, read_write> v: array<f32>;      // (COUNT)
@group(0) @binding(4) var<storage, read_write> maxabs: array<f32>; // (chunks)
@group(0) @binding(5) var<storage, read_write> hist: array<u32>;   // (chunks, NBINS)

var<workgroup> partial: array<f32, WG>;
var<workgroup> counts: array<atomic<u32>, NBINS>;

@compute @workgroup_size(WG)
fn pseudo_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= COUNT) { return; }
  v[i] = residual[i] + (start[i] - current[i]);
}

@compute @workgroup_size(WG)
fn chunk_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.x;
  let lo = c * CHUNK;
  let hi = min(lo + CHUNK, COUNT);
  var mx = 0.0;
  for (var i = lo + t; i < hi; i += WG) { mx = max(mx, abs(v[i])); }
  partial[t] = mx;
  if (t < NBINS) { atomicStore(&counts[t], 0u); }
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) { partial[t] = max(partial[t], partial[t + stride]); }
  }
  workgroupBarrier();
  let m = partial[0];
  for (var i = lo + t; i < hi; i += WG) {
    // An all-zero chunk puts every value in bin 0.
    let j = select(0u, min(NBINS - 1u, u32(abs(v[i]) / m * f32(NBINS))), m > 0.0);
    atomicAdd(&counts[j], 1u);
  }
  workgroupBarrier();
  if (t < NBINS) { hist[c * NBINS + t] = atomicLoad(&counts[t]); }
  if (t == 0u) { maxabs[c] = m; }
}
