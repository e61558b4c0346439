// Residual add, in place: x[i] += y[i] over COUNT floats.
//   forward:  the residual stream x (rows, C) takes the branch output y (rows, C)
//   backward: the same op — the stream's gradient flows unchanged into both summands, so the
//             gradient arriving at a block's input is dx_stream + d(branch input): x = dx, y = dbranch.
// Overrides set from residual.ts.

override COUNT: u32;
override WG: u32;

@group(0) @binding(0) var<storage, read_write> x: array<f32>; // (COUNT)
@group(0) @binding(1) var<storage, read> y: array<f32>;       // (COUNT)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= COUNT) { return; }
  x[i] += y[i];
}
