// AdamW over a flat parameter buffer, in place, four values per invocation (vec4: a quarter of
// the invocations, 16-byte accesses), with decoupled weight decay as shared/mlp.ts adamwStep:
//   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
//   θ ← θ − lr·( m/c1 / (sqrt(v/c2) + eps) + wd·θ )     c1 = 1−β1^t, c2 = 1−β2^t
// `struct AdamWHyper` and the binding of `hyper` are declared in adamw.ts (ADAMW_HYPER) and
// prepended to this file. Overrides set from adamw.ts.

override COUNT4: u32; // vec4s in each buffer (values padded to a multiple of 4 with zeros)
override WG: u32;

@group(0) @binding(0) var<storage, read_write> params: array<vec4f>; // (COUNT4)
@group(0) @binding(1) var<storage, read> grad: array<vec4f>;         // (COUNT4)
@group(0) @binding(2) var<storage, read_write> m: array<vec4f>;      // (COUNT4)
@group(0) @binding(3) var<storage, read_write> v: array<vec4f>;      // (COUNT4)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= COUNT4) { return; }
  let g = grad[i];
  let mi = hyper.beta1 * m[i] + hyper.oneMinusBeta1 * g;
  let vi = hyper.beta2 * v[i] + hyper.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let update = mi / hyper.biasCorrection1 / (sqrt(vi / hyper.biasCorrection2) + hyper.eps);
  let p = params[i];
  params[i] = p - hyper.lr * (update + hyper.weightDecay * p);
}
