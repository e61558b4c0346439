// C (M, N) = op(A) · op(B), fp32, row-major.
//   A is (M, K), or (K, M) read transposed when TRANS_A   (backprop: dW = hᵀ · dz)
//   B is (K, N), or (N, K) read transposed when TRANS_B   (backprop: dh = dz · Wᵀ)
// Register-blocked: each invocation owns a TM×TN block of C in four vec4 accumulators and
// streams its rows of op(A) and columns of op(B) from storage; no workgroup memory, no
// barriers (on CPU adapters a barrier costs more than it saves; see dev/bench-matmul.ts).
// Out-of-range rows/columns of an edge block read a clamped, valid index and are not stored.
// TM and TN are read from this file by matmul.ts; the overrides are set from there.

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool;
override TRANS_B: bool;
override WG_X: u32;
override WG_Y: u32;

const TM = 4u; // rows of C per invocation (one vec4 accumulator each)
const TN = 4u; // columns of C per invocation (the vec4 width)

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

fn loadA(row: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[k * M + row]; }
  return a[row * K + k];
}

fn loadB(k: u32, col: u32) -> f32 {
  if (TRANS_B) { return b[col * K + k]; }
  return b[k * N + col];
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= M || col0 >= N) { return; }
  let r = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(M - 1u));
  let cc = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(N - 1u));
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = 0u; k < K; k++) {
    let bv = vec4f(loadB(k, cc.x), loadB(k, cc.y), loadB(k, cc.z), loadB(k, cc.w));
    acc0 += loadA(r.x, k) * bv;
    acc1 += loadA(r.y, k) * bv;
    acc2 += loadA(r.z, k) * bv;
    acc3 += loadA(r.w, k) * bv;
  }
  let acc = array<vec4f, TM>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      if (col0 + j < N) { c[row * N + col0 + j] = acc[i][j]; }
    }
  }
}
