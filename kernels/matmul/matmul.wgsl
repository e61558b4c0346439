// C (M, N) = op(A) · op(B), fp32, row-major.
//   A is (M, K), or (K, M) read transposed when TRANS_A   (backprop: dW = hᵀ · dz)
//   B is (K, N), or (N, K) read transposed when TRANS_B   (backprop: dh = dz · Wᵀ)
// Storage access (bindings, loadA4/loadB4) is prepended by matmul.ts: matmul_load_vec4.wgsl
// (one vec4 load per quad) where both matrices' contiguous dimensions are multiples of 4, else
// matmul_load_f32.wgsl. A quad is four floats along a matrix's contiguous dimension; elements
// outside the matrix load as 0 and are never stored, so any M, N, K works.
//
// Register blocking: each invocation owns a block of C in vec4 accumulators, a WG_X × WG_Y
// workgroup a tile of WG_Y blocks × WG_X blocks. Two ways to feed them, picked per adapter by the
// autotune (matmul/autotune.ts) through TILED:
//   TILED   TM×TN blocks; per K step of BK the workgroup stages op(A)[BM, BK] and op(B)[BK, BN]
//           in workgroup memory (vec4s along M and N) and every invocation reads its operands
//           from there: the GPU way, each storage element is loaded once per workgroup.
//   !TILED  DB×DB blocks (four 4×4 sub-blocks); each invocation reads 4×4 blocks of op(A) and
//           op(B) from storage (through the cache) and does 64 vec4 FMAs per 16 quad loads; no
//           barriers. On CPU adapters (SwiftShader) a workgroup barrier costs more than shared
//           loads save (kernels/dev: v5, 8×8 blocks, beat v4's 4×4 direct blocks by ~1.4×).
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
const DB = 8u; // rows and columns of C per invocation when !TILED (2×2 blocks of 4×4)

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

fn store(acc: mat4x4f, row0: u32, col0: u32) {
  for (var i = 0u; i < 4u; i++) {
    if (row0 + i >= M) { return; }
    for (var j = 0u; j < 4u; j++) {
      if (col0 + j < N) { c[(row0 + i) * N + col0 + j] = acc[i][j]; }
    }
  }
}

// C[row0 .. row0+DB)[col0 .. col0+DB) straight from storage (the !TILED feed).
fn direct(row0: u32, col0: u32) {
  var c00 = mat4x4f(); // c00[i] is row row0 + i, columns col0 .. col0+3; c01 the next 4 columns …
  var c01 = mat4x4f();
  var c10 = mat4x4f();
  var c11 = mat4x4f();
  for (var k = 0u; k < K; k += 4u) {
    let a0 = blockA(row0, k);
    let a1 = blockA(row0 + 4u, k);
    let b0 = blockB(k, col0); // b0 * a0[i] = Σ_kk b0[kk] · a0[i][kk]
    let b1 = blockB(k, col0 + 4u);
    c00 += mat4x4f(b0 * a0[0], b0 * a0[1], b0 * a0[2], b0 * a0[3]);
    c01 += mat4x4f(b1 * a0[0], b1 * a0[1], b1 * a0[2], b1 * a0[3]);
    c10 += mat4x4f(b0 * a1[0], b0 * a1[1], b0 * a1[2], b0 * a1[3]);
    c11 += mat4x4f(b1 * a1[0], b1 * a1[1], b1 * a1[2], b1 * a1[3]);
  }
  store(c00, row0, col0);
  store(c01, row0, col0 + 4u);
  store(c10, row0 + 4u, col0);
  store(c11, row0 + 4u, col0 + 4u);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  if (!TILED) {
    let row0 = (wg.y * WG_Y + lid.y) * DB;
    let col0 = (wg.x * WG_X + lid.x) * DB;
    if (row0 < M && col0 < N) { direct(row0, col0); }
    return;
  }
  let m0 = wg.y * WG_Y * TM;
  let n0 = wg.x * WG_X * TN;
  var acc = mat4x4f(); // acc[i] is row m0 + TM·lid.y + i of C, TN columns from n0 + TN·lid.x
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
  store(acc, m0 + lid.y * TM, n0 + lid.x * TN);
}
