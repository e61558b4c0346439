// Storage access for matmul when a matrix's contiguous dimension is not a multiple of 4:
// bound as scalars, a quad is four guarded loads (matmul_load_vec4.wgsl: one vec4 load).
// loadA4(r, c) is A's storage row r, columns c..c+3 (c a multiple of 4), 0 outside; same for B.

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

fn loadA4(r: u32, c0: u32) -> vec4f {
  let rows = select(M, K, TRANS_A);
  let cols = select(K, M, TRANS_A);
  var v = vec4f(0.0);
  if (r >= rows) { return v; }
  for (var j = 0u; j < 4u; j++) {
    if (c0 + j < cols) { v[j] = a[r * cols + c0 + j]; }
  }
  return v;
}

fn loadB4(r: u32, c0: u32) -> vec4f {
  let rows = select(K, N, TRANS_B);
  let cols = select(N, K, TRANS_B);
  var v = vec4f(0.0);
  if (r >= rows) { return v; }
  for (var j = 0u; j < 4u; j++) {
    if (c0 + j < cols) { v[j] = b[r * cols + c0 + j]; }
  }
  return v;
}
