// dev: v1, the first mainline matmul (workgroup-tiled, one output per invocation). Replaced by
// the register-blocked v2 (now matmul/matmul.wgsl): at the training shapes on SwiftShader v1 spent
// 35 ms on (32,784)·(784,128) and 126–280 ms on dW0 (784,32)·(32,128) vs 4–5 ms for v2
// (dev/bench-matmul.ts; per-invocation and barrier cost dominate on a CPU adapter).

// C (M, N) = op(A) · op(B), fp32, row-major.
//   A is (M, K), or (K, M) read transposed when TRANS_A   (backprop: dW = hᵀ · dz)
//   B is (K, N), or (N, K) read transposed when TRANS_B   (backprop: dh = dz · Wᵀ)
// Workgroup-tiled: a TILE×TILE workgroup stages one TILE×TILE slice of op(A) and of op(B)
// in workgroup memory per K step; each invocation owns one output element.
// Every override is set from matmul.ts.

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool;
override TRANS_B: bool;
override TILE: u32;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

var<workgroup> tileA: array<f32, TILE * TILE>; // [row][k]
var<workgroup> tileB: array<f32, TILE * TILE>; // [k][col]

fn loadA(row: u32, k: u32) -> f32 {
  if (row >= M || k >= K) { return 0.0; }
  if (TRANS_A) { return a[k * M + row]; }
  return a[row * K + k];
}

fn loadB(k: u32, col: u32) -> f32 {
  if (k >= K || col >= N) { return 0.0; }
  if (TRANS_B) { return b[col * K + k]; }
  return b[k * N + col];
}

@compute @workgroup_size(TILE, TILE)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = wg.y * TILE + lid.y;
  let col = wg.x * TILE + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < K; k0 += TILE) {
    tileA[lid.y * TILE + lid.x] = loadA(row, k0 + lid.x);
    tileB[lid.y * TILE + lid.x] = loadB(k0 + lid.y, col);
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      acc += tileA[lid.y * TILE + k] * tileB[k * TILE + lid.x];
    }
    workgroupBarrier();
  }
  if (row < M && col < N) {
    c[row * N + col] = acc;
  }
}
