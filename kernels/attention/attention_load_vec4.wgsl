// Storage access for attention when HS (hence C) is a multiple of 4: bound as vec4s, every head
// row starts on a vec4, a quad is one access. Same functions as attention_load_f32.wgsl.

@group(0) @binding(0) var<storage, read> qkv: array<vec4f>;        // (B, T, 3C)
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;  // (B, T, C)
@group(0) @binding(3) var<storage, read> dout: array<vec4f>;       // (B, T, C)
@group(0) @binding(5) var<storage, read_write> dqkv: array<vec4f>; // (B, T, 3C)

fn ldQkv(row: u32, d: u32) -> vec4f { return qkv[row / 4u + d]; }
fn ldOut(row: u32, d: u32) -> vec4f { return out[row / 4u + d]; }
fn ldDout(row: u32, d: u32) -> vec4f { return dout[row / 4u + d]; }
fn stOut(row: u32, d: u32, v: vec4f) { out[row / 4u + d] = v; }
fn stDqkv(row: u32, d: u32, v: vec4f) { dqkv[row / 4u + d] = v; }
