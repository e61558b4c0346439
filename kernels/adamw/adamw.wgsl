// AdamW over a flat parameter buffer, in place, four values per invocation (vec4: a quarter of
// the invocations, 16-byte accesses), with decoupled weight decay as shared/mlp.ts adamwStep:
//   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
//   θ ← θ − lr·( m/c1 / (sqrt(v/c2) + eps) + wd·θ )     c1 = 1−β1^t, c2 = 1−β2^t
// With clipping by global norm (entry `clipped`), g is first scaled by min(1, maxGradNorm / ‖g‖)
// where ‖g‖² = sumsq[0] was reduced on the GPU by `grad_sumsq` in the same pass: the host
// never reads the norm back. maxGradNorm = 0 disables the clip.
// `struct AdamWHyper` and the binding of `hyper` are declared in adamw.ts (ADAMW_HYPER) and
// prepended to this file. Overrides set from adamw.ts.

override COUNT4: u32; // vec4s in each buffer (values padded to a multiple of 4 with zeros)
override WG: u32; // a power of two (grad_sumsq reduces by a tree over it)

@group(0) @binding(0) var<storage, read_write> params: array<vec4f>; // (COUNT4)
@group(0) @binding(1) var<storage, read> grad: array<vec4f>;         // (COUNT4)
@group(0) @binding(2) var<storage, read_write> m: array<vec4f>;      // (COUNT4)
@group(0) @binding(3) var<storage, read_write> v: array<vec4f>;      // (COUNT4)
@group(0) @binding(5) var<storage, read_write> sumsq: array<f32>;    // (1): Σ g² over the whole buffer

var<workgroup> partial: array<f32, WG>;

fn step(i: u32, scale: f32) {
  let g = grad[i] * scale;
  let mi = hyper.beta1 * m[i] + hyper.oneMinusBeta1 * g;
  let vi = hyper.beta2 * v[i] + hyper.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let update = mi / hyper.biasCorrection1 / (sqrt(vi / hyper.biasCorrection2) + hyper.eps);
  let p = params[i];
  params[i] = p - hyper.lr * (update + hyper.weightDecay * p);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= COUNT4) { return; }
  step(i, 1.0);
}

@compute @workgroup_size(WG)
fn clipped(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= COUNT4) { return; }
  let norm = sqrt(sumsq[0]);
  let clip = hyper.maxGradNorm > 0.0 && norm > hyper.maxGradNorm;
  step(i, select(1.0, hyper.maxGradNorm / norm, clip));
}

// One workgroup: invocation t sums g² over vec4s t, t+WG, …, then a fixed tree: deterministic.
@compute @workgroup_size(WG)
fn grad_sumsq(@builtin(local_invocation_index) t: u32) {
  var s = 0.0;
  for (var i = t; i < COUNT4; i += WG) {
    let g = grad[i];
    s += dot(g, g);
  }
  partial[t] = s;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) { partial[t] += partial[t + stride]; }
  }
  if (t == 0u) { sumsq[0] = partial[0]; }
}
