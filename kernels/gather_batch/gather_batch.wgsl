// Gathers one training batch from the resident dataset:
//   x[r, f] = images[indices[r], f] / 255   (ROWS, F) f32
//   y[r]    = labels[indices[r]]            (ROWS) u32
// images and labels are bytes packed four to a u32 word, little-endian (the upload copies the
// Uint8Arrays as they are). Each invocation writes four consecutive features of one row; when
// F is a multiple of 4 those are exactly one word. Indices are checked on the host.
// Overrides set from gather_batch.ts.

override ROWS: u32;
override F: u32;
override WG: u32;

const QUAD = 4u; // features per invocation (bytes per u32 word)
override F4 = (F + QUAD - 1u) / QUAD; // derived: quads per row, never set from TS

@group(0) @binding(0) var<storage, read> images: array<u32>;  // (N·F bytes)
@group(0) @binding(1) var<storage, read> labels: array<u32>;  // (N bytes)
@group(0) @binding(2) var<storage, read> indices: array<u32>; // (ROWS): this step's slice
@group(0) @binding(3) var<storage, read_write> x: array<f32>; // (ROWS, F)
@group(0) @binding(4) var<storage, read_write> y: array<u32>; // (ROWS)

fn imageByte(i: u32) -> u32 { return (images[i / 4u] >> ((i % 4u) * 8u)) & 0xffu; }
fn labelByte(i: u32) -> u32 { return (labels[i / 4u] >> ((i % 4u) * 8u)) & 0xffu; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < ROWS * F4) {
    let r = i / F4;
    let f0 = (i % F4) * QUAD;
    let src = indices[r] * F + f0;
    let dst = r * F + f0;
    if (F % QUAD == 0u) {
      let word = images[src / 4u];
      for (var j = 0u; j < QUAD; j++) { x[dst + j] = f32((word >> (8u * j)) & 0xffu) / 255.0; }
    } else {
      for (var j = 0u; j < min(QUAD, F - f0); j++) { x[dst + j] = f32(imageByte(src + j)) / 255.0; }
    }
  }
  if (i < ROWS) {
    y[i] = labelByte(indices[i]);
  }
}
