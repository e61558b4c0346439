enable subgroups;
// Row reductions through subgroup shuffles (the `subgroups` feature): a butterfly over the row's
// LANES consecutive invocations, no workgroup memory and no barrier. Needs LANES ≤ the adapter's
// smallest subgroup size, with subgroups made of consecutive local_invocation_index values
// (row-reduce.ts checks the first; the autotune checks every candidate's results against the
// CPU reference before timing it). Every lane ends with the same bits: each butterfly step adds
// the same two partial sums on both sides (a + b = b + a in IEEE arithmetic). Same functions as
// row_reduce_workgroup.wgsl.

fn rowSum2(v: vec2f, lid: u32) -> vec2f {
  var x = v;
  for (var s = 1u; s < LANES; s *= 2u) { x += subgroupShuffleXor(x, s); }
  return x;
}

fn rowMax(v: f32, lid: u32) -> f32 {
  var x = v;
  for (var s = 1u; s < LANES; s *= 2u) { x = max(x, subgroupShuffleXor(x, s)); }
  return x;
}
