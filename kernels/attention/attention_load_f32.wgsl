// Storage access for attention when a head's width HS is not a multiple of 4: bound as scalars,
// a quad is four guarded accesses (attention_load_vec4.wgsl: one vec4 access).
// ld*(row, d) reads floats 4d … 4d+3 of the head row that starts at float `row`, 0 past HS;
// st*(row, d, v) writes those inside HS.

@group(0) @binding(0) var<storage, read> qkv: array<f32>;        // (B, T, 3C)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (B, T, C)
@group(0) @binding(3) var<storage, read> dout: array<f32>;       // (B, T, C)
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>; // (B, T, 3C)

fn ldQkv(row: u32, d: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) { if (4u * d + j < HS) { v[j] = qkv[row + 4u * d + j]; } }
  return v;
}

fn ldOut(row: u32, d: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) { if (4u * d + j < HS) { v[j] = out[row + 4u * d + j]; } }
  return v;
}

fn ldDout(row: u32, d: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) { if (4u * d + j < HS) { v[j] = dout[row + 4u * d + j]; } }
  return v;
}

fn stOut(row: u32, d: u32, v: vec4f) {
  for (var j = 0u; j < 4u; j++) { if (4u * d + j < HS) { out[row + 4u * d + j] = v[j]; } }
}

fn stDqkv(row: u32, d: u32, v: vec4f) {
  for (var j = 0u; j < 4u; j++) { if (4u * d + j < HS) { dqkv[row + 4u * d + j] = v[j]; } }
}
