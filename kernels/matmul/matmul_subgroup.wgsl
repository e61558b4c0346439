// The barrier-free 8×8 path of matmul.wgsl (direct) with op(A) shared through subgroup shuffles:
// appended to matmul.wgsl by matmul.ts, after `enable subgroups` and the storage access, when
// the autotune picks a `subgroups` configuration (entry point main_sg).
// Four consecutive lanes (a "quad" of the subgroup: WG_X a multiple of 4, subgroups made of
// consecutive local_invocation_index values) own the same 8 rows of C, so they need the same
// op(A) blocks: per 8 values of K each lane loads one of the four 4×4 blocks (rows row0 or
// row0+4 × K k or k+4) and takes the other three from its quad, 4 block loads instead of 16.
// Accumulation order is direct()'s: the same bits. Lanes whose columns fall past N still run
// (B loads 0, stores skipped): their quad needs their loads.

fn shuffleM(x: mat4x4f, lane: u32) -> mat4x4f {
  return mat4x4f(subgroupShuffle(x[0], lane), subgroupShuffle(x[1], lane), subgroupShuffle(x[2], lane), subgroupShuffle(x[3], lane));
}

fn fma4(acc: mat4x4f, a: mat4x4f, b: mat4x4f) -> mat4x4f {
  return acc + mat4x4f(b * a[0], b * a[1], b * a[2], b * a[3]); // b * a[i] = Σ_kk b[kk] · a[i][kk]
}

@compute @workgroup_size(WG_X, WG_Y)
fn main_sg(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = (wg.y * WG_Y + lid.y) * DB;
  let col0 = (wg.x * WG_X + lid.x) * DB;
  if (row0 >= M) { return; } // a quad shares row0: its lanes leave together
  var c00 = mat4x4f();
  var c01 = mat4x4f();
  var c10 = mat4x4f();
  var c11 = mat4x4f();
  let q = lane & ~3u; // the quad's first lane
  let myRow = row0 + 4u * (lane & 1u);
  let myK = 4u * ((lane >> 1u) & 1u);
  for (var k = 0u; k < K; k += 8u) {
    let mine = blockA(myRow, k + myK);
    let a00 = shuffleM(mine, q);      // rows row0 .. +3, K k .. +3
    let a10 = shuffleM(mine, q + 1u); // rows row0+4 .. +7, K k .. +3
    let a01 = shuffleM(mine, q + 2u); // rows row0 .. +3, K k+4 .. +7
    let a11 = shuffleM(mine, q + 3u); // rows row0+4 .. +7, K k+4 .. +7
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
