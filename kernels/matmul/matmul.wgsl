// C (M, N) = op(A) · op(B), fp32, row-major.
//   A is (M, K), or (K, M) read transposed when TRANS_A   (backprop: dW = hᵀ · dz)
//   B is (K, N), or (N, K) read transposed when TRANS_B   (backprop: dh = dz · Wᵀ)
// Storage access (bindings, loadA4/loadB4) is prepended by matmul.ts: matmul_load_vec4.wgsl
// (one vec4 load per quad) where both matrices' contiguous dimensions are multiples of 4, else
// matmul_load_f32.wgsl. A quad is four floats along a matrix's contiguous dimension; elements
// outside the matrix load as 0 and are never stored, so any M, N, K works.
//
// A WG_X × WG_Y workgroup owns a BM × BN tile of C (BM = TM·WG_Y rows, BN = TN·WG_X columns);
// each invocation owns a TM×TN block in four vec4 accumulators (register blocking). Two ways to
// feed them, picked per adapter by the autotune (matmul/autotune.ts) through TILED:
//   TILED   per K step of BK the workgroup stages op(A)[BM, BK] and op(B)[BK, BN] in workgroup
//           memory (vec4s along M and N) and every invocation reads its operands from there:
//           the GPU way, each storage element is loaded once per workgroup.
//   !TILED  each invocation reads 4×4 blocks of op(A) and op(B) from storage (quads, through the
//           cache) and does 16 vec4 FMAs per 8 loads; no barriers. On CPU adapters (SwiftShader)
//           a workgroup barrier costs more than the shared loads save.
// Every override but the shape has a default; matmul.ts sets all of them.

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool;
override TRANS_B: bool;
override TILED: bool = true;
override WG_X: u32 = 8u; // invocations along N
override WG_Y: u32 = 8u; // invocations along M
override BK: u32 = 16u; // K per workgroup-memory stage, a multiple of 4

const TM = 4u; // rows of C per invocation (one vec4 accumulator each)
const TN = 4u; // columns of C per invocation (the vec4 width)

var<workgroup> tileA: array<vec4f, BK * WG_Y>; // [k][row quad]: .i is op(A)[TM·q + i][k]
var<workgroup> tileB: array<vec4f, BK * WG_X>; // [k][col quad]: .j is op(B)[k][TN·q + j]

// op(A)[row0 .. row0+3][k .. k+3] as four rows (vec4 over k).
fn blockA(row0: u32, k: u32) -> mat4x4f {
  if (TRANS_A) { // storage (K, M): quads run along M; load columns and transpose
    return transpose(mat4x4f(loadA4(k, row0), loadA4(k + 1u, row0), loadA4(k + 2u, row0), loadA4(k + 3u, row0)));
  }
  return mat4x4f(loadA4(row0, k), loadA4(row0 + 1u, k), loadA4(row0 + 2u, k), loadA4(row0 + 3u, k));
}

// op(B)[k .. k+3][col0 .. col0+3] as four rows (vec4 over columns).
fn blockB(k: u32, col0: u32) -> mat4x4f {
  if (TRANS_B) { // storage (N, K): quads run along K; load columns and transpose
    return transpose(mat4x4f(loadB4(col0, k), loadB4(col0 + 1u, k), loadB4(col0 + 2u, k), loadB4(col0 + 3u, k)));
  }
  return mat4x4f(loadB4(k, col0), loadB4(k + 1u, col0), loadB4(k + 2u, col0), loadB4(k + 3u, col0));
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = wg.y * WG_Y * TM;
  let n0 = wg.x * WG_X * TN;
  let row0 = m0 + lid.y * TM;
  let col0 = n0 + lid.x * TN;
  var acc = mat4x4f(); // acc[i] is row row0 + i of C, columns col0 .. col0+3
  if (TILED) {
    let flat = lid.y * WG_X + lid.x;
    let threads = WG_X * WG_Y;
    let kq = BK / 4u; // quads along K in a stage
    for (var k0 = 0u; k0 < K; k0 += BK) {
      for (var q = flat; q < BK * WG_Y; q += threads) {
        if (TRANS_A) { // a quad runs along M, as tileA does
          let kk = q / WG_Y;
          tileA[kk * WG_Y + q % WG_Y] = loadA4(k0 + kk, m0 + 4u * (q % WG_Y));
        } else { // a quad runs along K: scatter it
          let mm = q / kq;
          let kk = 4u * (q % kq);
          let v = loadA4(m0 + mm, k0 + kk);
          for (var j = 0u; j < 4u; j++) { tileA[(kk + j) * WG_Y + mm / 4u][mm % 4u] = v[j]; }
        }
      }
      for (var q = flat; q < BK * WG_X; q += threads) {
        if (TRANS_B) { // a quad runs along K: scatter it
          let nn = q / kq;
          let kk = 4u * (q % kq);
          let v = loadB4(n0 + nn, k0 + kk);
          for (var j = 0u; j < 4u; j++) { tileB[(kk + j) * WG_X + nn / 4u][nn % 4u] = v[j]; }
        } else { // a quad runs along N, as tileB does
          let kk = q / WG_X;
          tileB[kk * WG_X + q % WG_X] = loadB4(k0 + kk, n0 + 4u * (q % WG_X));
        }
      }
      workgroupBarrier();
      for (var k = 0u; k < BK; k++) {
        let av = tileA[k * WG_Y + lid.y];
        let bv = tileB[k * WG_X + lid.x];
        acc[0] += av.x * bv;
        acc[1] += av.y * bv;
        acc[2] += av.z * bv;
        acc[3] += av.w * bv;
      }
      workgroupBarrier();
    }
  } else {
    if (row0 >= M || col0 >= N) { return; }
    for (var k = 0u; k < K; k += 4u) {
      let a = blockA(row0, k);
      let b = blockB(k, col0); // b * a[i] = Σ_kk b[kk] · a[i][kk]
      acc[0] += b * a[0];
      acc[1] += b * a[1];
      acc[2] += b * a[2];
      acc[3] += b * a[3];
    }
  }
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      if (col0 + j < N) { c[row * N + col0 + j] = acc[i][j]; }
    }
  }
}
