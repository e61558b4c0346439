enable subgroups;
diagnostic(off, subgroup_uniformity); // a subgroup shares its rows (the early return), so its lanes run together
// dev: v6, the mainline's barrier-free 8×8 path (matmul.wgsl !TILED) with op(A) shared through
// subgroup shuffles. The four lanes of a subgroup (consecutive lid.x, WG_X a multiple of 4) own
// the same 8 rows of C, so they need the same op(A) blocks: per 8 values of K each lane loads one
// of the four 4×4 blocks (rows row0 / row0+4, K k / k+4) and takes the other three from its
// neighbours, 4 block loads instead of 16. Needs subgroups of exactly 4 (SwiftShader). Lanes
// whose columns fall past N still run (their B loads are 0, stores skipped): a shuffle needs
// every lane. Prepended by matmul/matmul_load_*.wgsl.

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

fn shuffleM(x: mat4x4f, lane: u32) -> mat4x4f {
  return mat4x4f(subgroupShuffle(x[0], lane), subgroupShuffle(x[1], lane), subgroupShuffle(x[2], lane), subgroupShuffle(x[3], lane));
}

fn fma4(acc: mat4x4f, a: mat4x4f, b: mat4x4f) -> mat4x4f {
  return acc + mat4x4f(b * a[0], b * a[1], b * a[2], b * a[3]);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = (wg.y * WG_Y + lid.y) * 8u;
  let col0 = (wg.x * WG_X + lid.x) * 8u;
  if (row0 >= M) { return; } // the whole subgroup shares row0
  var c00 = mat4x4f();
  var c01 = mat4x4f();
  var c10 = mat4x4f();
  var c11 = mat4x4f();
  // lane → its block of op(A): rows row0 + 4·(lane & 1), K k + 4·(lane >> 1)
  let myRow = row0 + 4u * (lane & 1u);
  let myK = 4u * (lane >> 1u);
  for (var k = 0u; k < K; k += 8u) {
    let mine = blockA(myRow, k + myK);
    let a00 = shuffleM(mine, 0u); // rows row0, K k
    let a10 = shuffleM(mine, 1u); // rows row0+4, K k
    let a01 = shuffleM(mine, 2u); // rows row0, K k+4
    let a11 = shuffleM(mine, 3u); // rows row0+4, K k+4
    let b0 = blockB(k, col0);
    let b1 = blockB(k, col0 + 4u);
    c00 = fma4(c00, a00, b0);
    c01 = fma4(c01, a00, b1);
    c10 = fma4(c10, a10, b0);
    c11 = fma4(c11, a10, b1);
    let b2 = blockB(k + 4u, col0);
    let b3 = blockB(k + 4u, col0 + 4u);
    c00 = fma4(c00, a01, b2);
    c01 = fma4(c01, a01, b3);
    c10 = fma4(c10, a11, b2);
    c11 = fma4(c11, a11, b3);
  }
  store(c00, row0, col0);
  store(c01, row0, col0 + 4u);
  store(c10, row0 + 4u, col0);
  store(c11, row0 + 4u, col0 + 4u);
}
