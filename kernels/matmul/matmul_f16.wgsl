// The tiled path of matmul.wgsl with its workgroup tiles in f16 and each stage's BK products
// summed in f16 before they join the f32 accumulator (entry point main_f16): appended by
// matmul.ts after `enable f16` and the storage access, only where the adapter has shader-f16
// and the autotune was allowed to trade precision (MatmulAutotuneOptions.precision 'mixed').
// Operands are rounded to f16 as they are staged (2⁻¹¹ relative), so C is good to about 1e-3
// relative, not fp32's 1e-7: inputs, outputs and every buffer stay f32, and the optimizer's
// master weights are never f16. Half the workgroup memory and packed f16 FMAs per stage.

var<workgroup> tileAh: array<vec4h, BK * WG_Y>; // as tileA, in f16
var<workgroup> tileBh: array<vec4h, BK * WG_X>; // as tileB, in f16

@compute @workgroup_size(WG_X, WG_Y)
fn main_f16(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = wg.y * WG_Y * TM;
  let n0 = wg.x * WG_X * TN;
  var acc = mat4x4f(); // acc[i] is row m0 + TM·lid.y + i of C, TN columns from n0 + TN·lid.x
  let flat = lid.y * WG_X + lid.x;
  let threads = WG_X * WG_Y;
  let kq = BK / 4u;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var q = flat; q < BK * WG_Y; q += threads) {
      if (TRANS_A) {
        let kk = q / WG_Y;
        tileAh[kk * WG_Y + q % WG_Y] = vec4h(loadA4(k0 + kk, m0 + 4u * (q % WG_Y)));
      } else {
        let mm = q / kq;
        let kk = 4u * (q % kq);
        let v = loadA4(m0 + mm, k0 + kk);
        for (var j = 0u; j < 4u; j++) { tileAh[(kk + j) * WG_Y + mm / 4u][mm % 4u] = f16(v[j]); }
      }
    }
    for (var q = flat; q < BK * WG_X; q += threads) {
      if (TRANS_B) {
        let nn = q / kq;
        let kk = 4u * (q % kq);
        let v = loadB4(n0 + nn, k0 + kk);
        for (var j = 0u; j < 4u; j++) { tileBh[(kk + j) * WG_X + nn / 4u][nn % 4u] = f16(v[j]); }
      } else {
        let kk = q / WG_X;
        tileBh[kk * WG_X + q % WG_X] = vec4h(loadB4(k0 + kk, n0 + 4u * (q % WG_X)));
      }
    }
    workgroupBarrier();
    var part = mat4x4h(); // this stage's BK products, in f16
    for (var k = 0u; k < BK; k++) {
      let av = tileAh[k * WG_Y + lid.y];
      let bv = tileBh[k * WG_X + lid.x];
      part[0] += av.x * bv;
      part[1] += av.y * bv;
      part[2] += av.z * bv;
      part[3] += av.w * bv;
    }
    acc += mat4x4f(part);
    workgroupBarrier();
  }
  store(acc, m0 + lid.y * TM, n0 + lid.x * TN);
}
