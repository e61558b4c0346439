// dev: v3, workgroup-tiled and register-blocked. C (M, N) = op(A) · op(B), fp32, row-major.
//   A is (M, K), or (K, M) read transposed when TRANS_A   (backprop: dW = hᵀ · dz)
//   B is (K, N), or (N, K) read transposed when TRANS_B   (backprop: dh = dz · Wᵀ)
// A WG_X × WG_Y workgroup owns a BM × BN tile of C (BM = 4·WG_Y rows, BN = 4·WG_X columns);
// each invocation owns a 4×4 block in four vec4 accumulators. Per K step of BK, the workgroup
// stages op(A)[BM, BK] and op(B)[BK, BN] in workgroup memory as vec4s along M and N, loading
// storage four floats at a time along each matrix's contiguous dimension (loadA4/loadB4, from
// matmul_load_vec4.wgsl where that dimension is a multiple of 4, else matmul_load_f32.wgsl).
// Out-of-range elements load as 0 and are not stored, so any M, N, K works.
// Every override but M, N, K, TRANS_* has a default; the spec sets them per adapter.

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool;
override TRANS_B: bool;
override WG_X: u32 = 8u; // invocations along N
override WG_Y: u32 = 8u; // invocations along M
override BK: u32 = 16u; // K per stage, a multiple of 4

const TM = 4u; // rows of C per invocation (one vec4 accumulator each)
const TN = 4u; // columns of C per invocation (the vec4 width)

var<workgroup> tileA: array<vec4f, BK * WG_Y>; // [k][row quad]: .i is op(A)[4q + i][k]
var<workgroup> tileB: array<vec4f, BK * WG_X>; // [k][col quad]: .j is op(B)[k][4q + j]

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = wg.y * WG_Y * TM;
  let n0 = wg.x * WG_X * TN;
  let flat = lid.y * WG_X + lid.x;
  let threads = WG_X * WG_Y;
  let kq = BK / 4u; // quads along K in a stage
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var q = flat; q < BK * WG_Y; q += threads) {
      if (TRANS_A) { // storage (K, M): a quad runs along M, as tileA does
        let kk = q / WG_Y;
        let mq = q % WG_Y;
        tileA[kk * WG_Y + mq] = loadA4(k0 + kk, m0 + 4u * mq);
      } else { // storage (M, K): a quad runs along K; scatter it
        let mm = q / kq;
        let kk = 4u * (q % kq);
        let v = loadA4(m0 + mm, k0 + kk);
        for (var j = 0u; j < 4u; j++) { tileA[(kk + j) * WG_Y + mm / 4u][mm % 4u] = v[j]; }
      }
    }
    for (var q = flat; q < BK * WG_X; q += threads) {
      if (TRANS_B) { // storage (N, K): a quad runs along K; scatter it
        let nn = q / kq;
        let kk = 4u * (q % kq);
        let v = loadB4(n0 + nn, k0 + kk);
        for (var j = 0u; j < 4u; j++) { tileB[(kk + j) * WG_X + nn / 4u][nn % 4u] = v[j]; }
      } else { // storage (K, N): a quad runs along N, as tileB does
        let kk = q / WG_X;
        let nq = q % WG_X;
        tileB[kk * WG_X + nq] = loadB4(k0 + kk, n0 + 4u * nq);
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let av = tileA[k * WG_Y + lid.y];
      let bv = tileB[k * WG_X + lid.x];
      acc0 += av.x * bv;
      acc1 += av.y * bv;
      acc2 += av.z * bv;
      acc3 += av.w * bv;
    }
    workgroupBarrier();
  }
  let row0 = m0 + lid.y * TM;
  let col0 = n0 + lid.x * TN;
  let acc = array<vec4f, TM>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      if (col0 + j < N) { c[row * N + col0 + j] = acc[i][j]; }
    }
  }
}
