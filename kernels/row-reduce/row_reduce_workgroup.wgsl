// Row reductions through workgroup memory, for kernels that give each row LANES consecutive
// invocations (local_invocation_index lid; LANES a power of two dividing WG): every lane of
// the row gets the row's sum (or max) of the lanes' values. A fixed tree (strides LANES/2, …, 1),
// so the result does not depend on scheduling. Call from uniform control flow: the barriers
// cover the whole workgroup. Prepended by row-reduce.ts (row_reduce_subgroup.wgsl: the same
// functions through subgroup shuffles).

var<workgroup> rowRed: array<vec2f, WG>;

fn rowSum2(v: vec2f, lid: u32) -> vec2f {
  if (LANES == 1u) { return v; }
  rowRed[lid] = v;
  for (var s = LANES / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (lid % LANES < s) { rowRed[lid] += rowRed[lid + s]; }
  }
  workgroupBarrier();
  let r = rowRed[lid - lid % LANES];
  workgroupBarrier(); // read before the next reduction overwrites
  return r;
}

fn rowMax(v: f32, lid: u32) -> f32 {
  if (LANES == 1u) { return v; }
  rowRed[lid].x = v;
  for (var s = LANES / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (lid % LANES < s) { rowRed[lid].x = max(rowRed[lid].x, rowRed[lid + s].x); }
  }
  workgroupBarrier();
  let r = rowRed[lid - lid % LANES].x;
  workgroupBarrier();
  return r;
}
