import { test } from 'node:test';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { biasBackward, biasForward, BIAS_RELU_WG, geluBackward, geluForward, type BiasShape } from './bias_relu.ts';
import { biasBackwardRef, biasForwardRef, geluBackwardRef, geluForwardRef } from './bias_relu.ref.ts';

const { cache } = await testGpu();
const tol = { atol: 1e-6, rtol: 1e-6 };
// Not multiples of the workgroup size; 70 columns spill into a second workgroup of the column sums.
const shapes: [number, number][] = [
  [1, 1],
  [7, 13],
  [33, 70],
  [5, BIAS_RELU_WG + 1],
];

test('bias (+ReLU) forward and backward match the CPU reference', async () => {
  const rand = createRng(3);
  for (const [rows, n] of shapes) {
    for (const relu of [false, true]) {
      const shape: BiasShape = { rows, n, relu };
      const x = randomArray(rows * n, rand);
      const bias = randomArray(n, rand);
      const y = await biasForward(cache, x, bias, shape);
      assertClose(y, biasForwardRef(x, bias, shape), tol, `forward ${JSON.stringify(shape)}`);

      const dy = randomArray(rows * n, rand);
      const got = await biasBackward(cache, dy, relu ? y : null, shape);
      const want = biasBackwardRef(dy, y, shape);
      assertClose(got.dx, want.dx, tol, `backward dx ${JSON.stringify(shape)}`);
      assertClose(got.dbias, want.dbias, { atol: 1e-5, rtol: 1e-5 }, `backward dbias ${JSON.stringify(shape)}`);
    }
  }
});

test('bias + ReLU backward matches finite differences of the forward', async () => {
  const rand = createRng(4);
  const shape: BiasShape = { rows: 6, n: 9, relu: true };
  // Keep every pre-activation at least 0.1 from the ReLU kink so differences with h = 1e-3 are exact.
  const x = randomArray(54, rand).map((v) => (Math.abs(v) < 0.1 ? v + Math.sign(v || 1) * 0.2 : v));
  const bias = new Float32Array(9);
  const g = randomArray(54, rand);
  const y = await biasForward(cache, x, bias, shape);
  const { dx, dbias } = await biasBackward(cache, g, y, shape);
  assertClose(
    dx,
    finiteDifference((xx) => dot(g, biasForwardRef(xx, bias, shape)), x),
    { atol: 1e-6, rtol: 1e-6 },
    'dx vs FD',
  );
  assertClose(
    dbias,
    finiteDifference((bb) => dot(g, biasForwardRef(x, bb, shape)), bias),
    { atol: 1e-5, rtol: 1e-5 },
    'dbias vs FD',
  );
});

test('bias + GELU forward and backward match the CPU reference', async () => {
  const rand = createRng(40);
  for (const [rows, n] of shapes) {
    const shape = { rows, n };
    const x = randomArray(rows * n, rand, -4, 4);
    const bias = randomArray(n, rand);
    const { pre, act } = await geluForward(cache, x, bias, shape);
    assertClose(
      pre,
      Float64Array.from(x, (v, i) => v + bias[i % n]),
      tol,
      `pre ${JSON.stringify(shape)}`,
    );
    assertClose(act, geluForwardRef(x, bias, shape), { atol: 2e-6, rtol: 1e-5 }, `GELU forward ${JSON.stringify(shape)}`);
    const dy = randomArray(rows * n, rand);
    const got = await geluBackward(cache, dy, pre, shape);
    const want = geluBackwardRef(dy, pre, shape);
    assertClose(got.dx, want.dx, { atol: 2e-6, rtol: 1e-5 }, `GELU backward dx ${JSON.stringify(shape)}`);
    assertClose(got.dbias, want.dbias, { atol: 1e-5, rtol: 1e-5 }, `GELU backward dbias ${JSON.stringify(shape)}`);
  }
});

test('bias + GELU backward matches finite differences of the forward', async () => {
  const rand = createRng(41);
  const shape = { rows: 5, n: 11 };
  const x = randomArray(55, rand, -3, 3);
  const bias = randomArray(11, rand);
  const g = randomArray(55, rand);
  const { pre } = await geluForward(cache, x, bias, shape);
  const { dx, dbias } = await geluBackward(cache, g, pre, shape);
  assertClose(
    dx,
    finiteDifference((xx) => dot(g, geluForwardRef(xx, bias, shape)), x),
    { atol: 2e-5, rtol: 1e-4 },
    'GELU dx vs FD',
  );
  assertClose(
    dbias,
    finiteDifference((bb) => dot(g, geluForwardRef(x, bb, shape)), bias),
    { atol: 1e-4, rtol: 1e-4 },
    'GELU dbias vs FD',
  );
});
