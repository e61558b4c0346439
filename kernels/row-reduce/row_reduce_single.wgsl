// Row "reductions" where every row has one invocation (LANES = 1): nothing to combine, no
// barrier, so kernels may call them from non-uniform control flow (attention's per-row loops).
// Same functions as row_reduce_workgroup.wgsl and row_reduce_subgroup.wgsl.

fn rowSum2(v: vec2f, lid: u32) -> vec2f { return v; }
fn rowMax(v: f32, lid: u32) -> f32 { return v; }
