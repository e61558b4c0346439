import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mlpSpec, initParams, paramTableHash } from './model.ts';
import { mlpBackward, mlpForward, softmaxCrossEntropy } from './mlp.ts';
import { createRng } from './rng.ts';

test('reference backward matches finite differences', () => {
  const spec = mlpSpec([7, 5, 3]);
  const params = Float64Array.from(initParams(spec, 3));
  const B = 4;
  const rand = createRng(9);
  const x = Float32Array.from({ length: B * 7 }, () => rand());
  const y = Uint32Array.from([0, 2, 1, 2]);
  const loss = (p: Float64Array) => {
    const acts = mlpForward(spec, Float32Array.from(p), x, B);
    return softmaxCrossEntropy(acts[acts.length - 1], y, 3);
  };
  const p32 = Float32Array.from(params);
  const acts = mlpForward(spec, p32, x, B);
  const grad = mlpBackward(spec, p32, acts, loss(params).dlogits, B);
  for (let i = 0; i < spec.paramCount; i += 3) {
    const h = 1e-2;
    const up = params.slice();
    const down = params.slice();
    up[i] += h;
    down[i] -= h;
    const fd = (loss(up).loss - loss(down).loss) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]) < 2e-3, `param ${i}: fd ${fd} vs analytic ${grad[i]}`);
  }
});

test('parameter table hash pins the layout', () => {
  assert.equal(paramTableHash(mlpSpec([784, 64, 10])), paramTableHash(mlpSpec([784, 64, 10])));
  assert.notEqual(paramTableHash(mlpSpec([784, 64, 10])), paramTableHash(mlpSpec([784, 128, 10])));
  assert.equal(mlpSpec([784, 64, 10]).paramCount, 784 * 64 + 64 + 64 * 10 + 10);
});
