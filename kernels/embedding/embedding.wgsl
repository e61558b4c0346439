// Token + position embedding, forward and backward:
//   forward:        x[b,t,c] = wte[tokens[b,t], c] + wpe[t, c]              one invocation per (b, t, c)
//   backward_wte:   dwte[v, c] = Σ_{(b,t): tokens[b,t] = v} dx[b,t,c]         one per (v, c), over
//                   the positions of token v only: order[starts[v] … starts[v+1]) (embedding.ts
//                   tokenIndex, a counting sort made on the host where the tokens are uploaded)
//   backward_wpe:   dwpe[t, c] = Σ_b dx[b,t,c]                                one per (t, c), t < T
// The scatter-add of the backward is written as a gather (each output sums its own inputs in
// position order): no atomics, deterministic. Tokens must be < V (checked where data enters).
// Overrides set from embedding.ts.

override B: u32;
override T: u32;
override C: u32;
override V: u32;
override WG: u32;

@group(0) @binding(0) var<storage, read> tokens: array<u32>;      // (B, T)
@group(0) @binding(1) var<storage, read> wte: array<f32>;         // (V, C)
@group(0) @binding(2) var<storage, read> wpe: array<f32>;         // (≥ T, C)
@group(0) @binding(3) var<storage, read_write> x: array<f32>;     // (B, T, C)
@group(0) @binding(4) var<storage, read> dx: array<f32>;          // (B, T, C)
@group(0) @binding(5) var<storage, read_write> dwte: array<f32>;  // (V, C)
@group(0) @binding(6) var<storage, read_write> dwpe: array<f32>;  // (≥ T, C): rows < T written
@group(0) @binding(7) var<storage, read> order: array<u32>;       // (B·T): positions sorted by token, stable
@group(0) @binding(8) var<storage, read> starts: array<u32>;      // (V + 1): token v's run in order

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= B * T * C) { return; }
  let bt = i / C;
  let c = i % C;
  x[i] = wte[tokens[bt] * C + c] + wpe[(bt % T) * C + c];
}

@compute @workgroup_size(WG)
fn backward_wte(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= V * C) { return; }
  let v = i / C;
  let c = i % C;
  var s = 0.0;
  for (var j = starts[v]; j < starts[v + 1u]; j++) { s += dx[order[j] * C + c]; }
  dwte[i] = s;
}

@compute @workgroup_size(WG)
fn backward_wpe(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= T * C) { return; }
  var s = 0.0;
  for (var b = 0u; b < B; b++) { s += dx[b * T * C + i]; }
  dwpe[i] = s;
}
