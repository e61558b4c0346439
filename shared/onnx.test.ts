import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { encodeOnnxModel, exportGptOnnx, exportMlpOnnx, matmulOnnxModel } from './onnx.ts';
import { gptLossAndGrad } from './gpt.ts';
import { gptSpec, initParams, mlpSpec } from './model.ts';
import { mlpForward } from './mlp.ts';
import { createRng } from './rng.ts';

// One thread: the wasm CPU backend would otherwise start worker threads in Node.
ort.env.wasm.numThreads = 1;

const session = (bytes: Uint8Array) => ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('single MatMul model runs in onnxruntime-web and matches a CPU product', async () => {
  const [M, K, N] = [5, 7, 3];
  const rand = createRng(1);
  const A = Float32Array.from({ length: M * K }, () => rand() - 0.5);
  const B = Float32Array.from({ length: K * N }, () => rand() - 0.5);
  const s = await session(matmulOnnxModel(M, K, N));
  const { C } = await s.run({ A: new ort.Tensor('float32', A, [M, K]), B: new ort.Tensor('float32', B, [K, N]) });
  assert.deepEqual(C.dims, [M, N]);
  const want = new Float32Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) want[m * N + n] += A[m * K + k] * B[k * N + n];
  assert.ok(maxAbsDiff(C.data as Float32Array, want) < 1e-6);
});

test('MLP export matches the CPU reference forward pass for any batch size', async () => {
  const spec = mlpSpec([784, 32, 16, 10]);
  const params = initParams(spec, 5);
  for (let i = 0; i < params.length; i += 7) params[i] += 0.01; // non-zero biases too
  const s = await session(exportMlpOnnx(spec, params));
  const rand = createRng(2);
  for (const B of [1, 9]) {
    const x = Float32Array.from({ length: B * 784 }, () => rand());
    const { logits } = await s.run({ x: new ort.Tensor('float32', x, [B, 784]) });
    assert.deepEqual(logits.dims, [B, 10]);
    const want = mlpForward(spec, params, x, B).at(-1)!;
    assert.ok(maxAbsDiff(logits.data as Float32Array, want) < 1e-4);
  }
});

test('attributes, int64 initializers and negative ints survive the round trip', async () => {
  // Reshape by an int64 shape with -1, Softmax on axis -1, Transpose by perm: exercises
  // negative varints, tensor initializers of int64 and INTS attributes.
  const bytes = encodeOnnxModel({
    name: 'attrs',
    nodes: [
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['r'] },
      { op: 'Transpose', inputs: ['r'], outputs: ['t'], attrs: { perm: { ints: [1, 0] } } },
      { op: 'Softmax', inputs: ['t'], outputs: ['y'], attrs: { axis: { int: -1 } } },
    ],
    initializers: [{ name: 'shape', dims: [2], type: 'int64', data: [2, -1] }],
    inputs: [{ name: 'x', type: 'float', shape: [6] }],
    outputs: [{ name: 'y', type: 'float', shape: [3, 2] }],
  });
  const s = await session(bytes);
  const x = Float32Array.from([0, 1, 2, 3, 4, 5]);
  const { y } = await s.run({ x: new ort.Tensor('float32', x, [6]) });
  assert.deepEqual(y.dims, [3, 2]);
  // rows of t are [0,3], [1,4], [2,5]: softmax of a gap of 3
  const p = 1 / (1 + Math.exp(3));
  assert.ok(maxAbsDiff(y.data as Float32Array, [p, 1 - p, p, 1 - p, p, 1 - p]) < 1e-6);
});

test('bad graphs are refused with the name of what is wrong', () => {
  assert.throws(
    () => encodeOnnxModel({ name: 'g', nodes: [{ op: 'Relu', inputs: ['nope'], outputs: ['y'] }], initializers: [], inputs: [], outputs: [] }),
    /reads "nope"/,
  );
  assert.throws(() => exportMlpOnnx(mlpSpec([4, 2]), new Float32Array(3)), /3 parameters for a model of 10/);
  assert.throws(
    () =>
      encodeOnnxModel({ name: 'g', nodes: [], initializers: [{ name: 'w', dims: [2, 2], type: 'float', data: new Float32Array(3) }], inputs: [], outputs: [] }),
    /tensor "w" has 3 values/,
  );
});

// --- GPT ----------------------------------------------------------------------------------

test('GPT export matches the float64 reference forward pass (shared/gpt.ts) at sequence lengths below the context', async () => {
  const spec = gptSpec({ vocab: 11, context: 8, width: 12, layers: 2, heads: 3, hidden: 20 });
  const rand = createRng(4);
  const params = Float32Array.from({ length: spec.paramCount }, () => (rand() - 0.5) * 0.6);
  for (const t of spec.tensors) if (t.name.endsWith('.g')) for (let i = 0; i < t.size; i++) params[t.offset + i] += 1;
  const s = await session(exportGptOnnx(spec, params));
  for (const [B, T] of [
    [2, 8],
    [3, 5],
    [1, 1],
  ]) {
    const tokens = Array.from({ length: B * T }, () => Math.floor(rand() * 11));
    const { logits } = await s.run({ tokens: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [B, T]) });
    assert.deepEqual(logits.dims, [B, T, 11]);
    const want = gptLossAndGrad(spec, params, tokens, tokens, B, T, false).logits;
    const diff = maxAbsDiff(logits.data as Float32Array, want);
    assert.ok(diff < 1e-4, `B=${B} T=${T}: max |ONNX − reference| = ${diff}`);
  }
  // Causality: changing the last token leaves every earlier position's logits unchanged.
  const a = [1, 2, 3, 4, 5];
  const b = [1, 2, 3, 4, 9];
  const run = async (t: number[]) => (await s.run({ tokens: new ort.Tensor('int64', BigInt64Array.from(t, BigInt), [1, 5]) })).logits.data as Float32Array;
  const [la, lb] = [await run(a), await run(b)];
  assert.equal(maxAbsDiff(la.subarray(0, 4 * 11), lb.subarray(0, 4 * 11)), 0);
  assert.ok(maxAbsDiff(la.subarray(4 * 11), lb.subarray(4 * 11)) > 1e-3);
});
