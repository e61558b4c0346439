// Storage access for matmul when both matrices' contiguous dimensions are multiples of 4:
// bound as vec4s (a binding then holds a whole number of them), a quad is one load.
// loadA4(r, c) is A's storage row r, columns c..c+3 (c a multiple of 4), 0 outside; same for B.

@group(0) @binding(0) var<storage, read> a: array<vec4f>;
@group(0) @binding(1) var<storage, read> b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

fn loadA4(r: u32, c0: u32) -> vec4f {
  let rows = select(M, K, TRANS_A);
  let cols = select(K, M, TRANS_A);
  if (r >= rows || c0 >= cols) { return vec4f(0.0); }
  return a[(r * cols + c0) / 4u];
}

fn loadB4(r: u32, c0: u32) -> vec4f {
  let rows = select(K, N, TRANS_B);
  let cols = select(N, K, TRANS_B);
  if (r >= rows || c0 >= cols) { return vec4f(0.0); }
  return b[(r * cols + c0) / 4u];
}
