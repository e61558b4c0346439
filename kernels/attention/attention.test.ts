import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { attentionBackward, attentionForward, ATTENTION_WG, type AttentionShape } from './attention.ts';
import { attentionBackwardRef, attentionForwardRef } from './attention.ref.ts';

const { cache } = await testGpu();
const tol = { atol: 1e-5, rtol: 1e-4 };

test('attention forward and backward match the CPU reference (causal, multi-head)', async () => {
  const rand = createRng(70);
  // B·NH·T not a multiple of the workgroup; odd head sizes; one case past one workgroup.
  const shapes: AttentionShape[] = [
    { B: 1, T: 1, C: 3, NH: 1 },
    { B: 2, T: 5, C: 6, NH: 2 },
    { B: 3, T: 11, C: 12, NH: 4 },
    { B: 1, T: ATTENTION_WG + 3, C: 10, NH: 2 },
  ];
  for (const shape of shapes) {
    const { B, T, C, NH } = shape;
    const qkv = randomArray(B * T * 3 * C, rand, -2, 2);
    const got = await attentionForward(cache, qkv, shape);
    const want = attentionForwardRef(qkv, B, T, C, NH);
    assertClose(got.out, want.out, tol, `out ${JSON.stringify(shape)}`);
    assertClose(got.att, want.att, tol, `att ${JSON.stringify(shape)}`);
    const dout = randomArray(B * T * C, rand);
    const dqkv = await attentionBackward(cache, dout, qkv, got.att, shape);
    assertClose(dqkv, attentionBackwardRef(dout, qkv, want.att, B, T, C, NH), tol, `dqkv ${JSON.stringify(shape)}`);
  }
});

test('attention is causal: changing a later position leaves earlier outputs unchanged', async () => {
  const rand = createRng(71);
  const shape = { B: 1, T: 6, C: 4, NH: 2 };
  const qkv = randomArray(6 * 12, rand);
  const a = await attentionForward(cache, qkv, shape);
  const changed = qkv.slice();
  for (let i = 5 * 12; i < 6 * 12; i++) changed[i] += 1;
  const b = await attentionForward(cache, changed, shape);
  assert.deepEqual(Array.from(b.out.subarray(0, 5 * 4)), Array.from(a.out.subarray(0, 5 * 4)));
  assert.notDeepEqual(Array.from(b.out.subarray(20)), Array.from(a.out.subarray(20)));
});

test('attention backward matches finite differences of the forward', async () => {
  const rand = createRng(72);
  const shape = { B: 2, T: 4, C: 6, NH: 3 };
  const { B, T, C, NH } = shape;
  const qkv = randomArray(B * T * 3 * C, rand);
  const g = randomArray(B * T * C, rand);
  const { att } = await attentionForward(cache, qkv, shape);
  const dqkv = await attentionBackward(cache, g, qkv, att, shape);
  const fd = finiteDifference((z) => dot(g, attentionForwardRef(z, B, T, C, NH).out), qkv);
  assertClose(dqkv, fd, { atol: 1e-5, rtol: 1e-3 }, 'dqkv vs FD');
});
