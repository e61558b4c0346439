import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import {
  attentionBackward,
  attentionForward,
  attentionForwardKernel,
  ATTENTION_CANDIDATES,
  ATTENTION_KEY_BLOCK,
  attentionUnsupported,
  type AttentionShape,
} from './attention.ts';
import { attentionBackwardRef, attentionForwardRef, attentionLseRef } from './attention.ref.ts';

const { ctx, cache } = await testGpu();
// Every candidate the autotune may pick; one this device cannot run is skipped, saying why.
const runnable = ATTENTION_CANDIDATES.filter((c) => !attentionUnsupported(c, ctx.device));
const tol = { atol: 1e-5, rtol: 1e-4 };

// No T here is a multiple of a workgroup (16, 32, 64), a stage (16, 32, or fewer rows where a
// wide head caps it by workgroup memory) or the key block; 70 and 133 span several workgroups
// and stages with a partial last one. Odd head sizes (3, 5) take the scalar storage path, 4, 8
// and 64 the vec4 one.
const shapes: AttentionShape[] = [
  { B: 1, T: 1, C: 3, NH: 1 },
  { B: 2, T: 5, C: 6, NH: 2 },
  { B: 2, T: ATTENTION_KEY_BLOCK + 5, C: 16, NH: 2 },
  { B: 1, T: 70, C: 12, NH: 3 },
  { B: 1, T: 133, C: 10, NH: 2 },
  { B: 1, T: 57, C: 64, NH: 1 }, // 16 KiB of workgroup memory (the default limit) hold 31 rows of it
];

for (const config of ATTENTION_CANDIDATES) {
  const skip = attentionUnsupported(config, ctx.device) ?? false;
  test(`fused attention ${JSON.stringify(config)}: out, lse and dqkv match the CPU reference at T off every tile`, { skip }, async () => {
    const rand = createRng(70);
    for (const shape of shapes) {
      const { B, T, C, NH } = shape;
      const what = `${JSON.stringify(shape)} config ${JSON.stringify(config)}`;
      const qkv = randomArray(B * T * 3 * C, rand, -2, 2);
      const got = await attentionForward(cache, qkv, shape, config);
      const want = attentionForwardRef(qkv, B, T, C, NH);
      assertClose(got.out, want.out, tol, `out ${what}`);
      assertClose(got.lse, attentionLseRef(qkv, B, T, C, NH), tol, `lse ${what}`);
      const dout = randomArray(B * T * C, rand);
      const dqkv = await attentionBackward(cache, { dout, qkv, out: got.out, lse: got.lse }, shape, config);
      assertClose(dqkv, attentionBackwardRef(dout, qkv, want.att, B, T, C, NH), tol, `dqkv ${what}`);
    }
  });
}

// Both tests below run at the sweep's second shape, whose pipelines the sweep has compiled for
// every config (on SwiftShader a pipeline's compile, not its run, is the time of these tests).
test('attention is causal: changing a later position leaves earlier outputs unchanged', async () => {
  const rand = createRng(71);
  const shape = shapes[1];
  const { B, T, C } = shape;
  const qkv = randomArray(B * T * 3 * C, rand);
  // The last position of every sequence in the batch: its q, k and v.
  const changed = qkv.slice();
  for (let b = 0; b < B; b++) for (let i = (b * T + T - 1) * 3 * C; i < (b * T + T) * 3 * C; i++) changed[i] += 1;
  for (const config of runnable) {
    const a = await attentionForward(cache, qkv, shape, config);
    const b = await attentionForward(cache, changed, shape, config);
    for (let s = 0; s < B; s++) {
      const earlier = [s * T * C, (s * T + T - 1) * C];
      const last = [(s * T + T - 1) * C, (s * T + T) * C];
      assert.deepEqual(Array.from(b.out.subarray(earlier[0], earlier[1])), Array.from(a.out.subarray(earlier[0], earlier[1])), `sequence ${s}`);
      assert.notDeepEqual(Array.from(b.out.subarray(last[0], last[1])), Array.from(a.out.subarray(last[0], last[1])), `sequence ${s}`);
    }
  }
});

test('attention backward matches finite differences of the forward', async () => {
  const rand = createRng(72);
  const shape = shapes[1];
  const { B, T, C, NH } = shape;
  const qkv = randomArray(B * T * 3 * C, rand);
  const g = randomArray(B * T * C, rand);
  const fd = finiteDifference((z) => dot(g, attentionForwardRef(z, B, T, C, NH).out), qkv);
  for (const config of runnable) {
    const { out, lse } = await attentionForward(cache, qkv, shape, config);
    const dqkv = await attentionBackward(cache, { dout: g, qkv, out, lse }, shape, config);
    assertClose(dqkv, fd, { atol: 1e-5, rtol: 1e-3 }, `dqkv vs FD, config ${JSON.stringify(config)}`);
  }
});

test('a head wider than the kernel holds in registers is refused with a clear error', () => {
  for (const config of runnable.filter((c) => c.lanes === 1)) {
    assert.throws(() => attentionForwardKernel(cache, { B: 1, T: 4, C: 72, NH: 1 }, config), /a head of 72 floats is more than 64 per lane/);
  }
});
