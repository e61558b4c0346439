// dev: v5, the barrier-free path of v4 (matmul/matmul.wgsl) with 8×8 outputs per invocation:
// four 4×4 register blocks share each loaded 4×4 block of op(A) and op(B), so a K quad costs
// 16 vec4 loads for 64 vec4 FMAs (v4: 8 for 16). Prepended by matmul/matmul_load_*.wgsl.

override M: u32;
override N: u32;
override K: u32;
override TRANS_A: bool;
override TRANS_B: bool;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

fn blockA(row0: u32, k: u32) -> mat4x4f {
  if (TRANS_A) { return transpose(mat4x4f(loadA4(k, row0), loadA4(k + 1u, row0), loadA4(k + 2u, row0), loadA4(k + 3u, row0))); }
  return mat4x4f(loadA4(row0, k), loadA4(row0 + 1u, k), loadA4(row0 + 2u, k), loadA4(row0 + 3u, k));
}

fn blockB(k: u32, col0: u32) -> mat4x4f {
  if (TRANS_B) { return transpose(mat4x4f(loadB4(col0, k), loadB4(col0 + 1u, k), loadB4(col0 + 2u, k), loadB4(col0 + 3u, k))); }
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

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 8u;
  let col0 = gid.x * 8u;
  if (row0 >= M || col0 >= N) { return; }
  var c00 = mat4x4f();
  var c01 = mat4x4f();
  var c10 = mat4x4f();
  var c11 = mat4x4f();
  for (var k = 0u; k < K; k += 4u) {
    let a0 = blockA(row0, k);
    let a1 = blockA(row0 + 4u, k);
    let b0 = blockB(k, col0);
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
