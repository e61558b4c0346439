import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../shared/rng.ts';
import { softmaxCrossEntropy } from '../../shared/mlp.ts';
import { assertClose, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { ROW_REDUCE_CANDIDATES, rowReduceUnsupported } from '../row-reduce/row-reduce.ts';
import { softmaxXent } from './softmax_xent.ts';
import { softmaxXentRef } from './softmax_xent.ref.ts';

const { ctx, cache } = await testGpu();

function labelsFor(rows: number, C: number, rand: () => number): Uint32Array {
  return Uint32Array.from({ length: rows }, () => Math.floor(rand() * C));
}

// Every reduction variant the autotune may pick; one this device cannot run is skipped, saying why.
for (const reduce of ROW_REDUCE_CANDIDATES) {
  const skip = rowReduceUnsupported(reduce, ctx.device) ?? false;
  test(`softmax cross-entropy ${JSON.stringify(reduce)}: loss and dlogits match the CPU reference`, { skip }, async () => {
    const rand = createRng(5);
    // Batches below, at and past a workgroup's rows at every lane count (131 > 64 rows: the
    // total's invocations take several rows each); class counts that no lane count divides.
    for (const [rows, C] of [
      [1, 1],
      [1, 3],
      [7, 5],
      [64, 10],
      [131, 7],
      [9, 300],
    ]) {
      const what = `(${rows}, ${C}) ${JSON.stringify(reduce)}`;
      const logits = randomArray(rows * C, rand, -4, 4);
      const labels = labelsFor(rows, C, rand);
      const got = await softmaxXent(cache, logits, labels, { rows, classes: C }, reduce);
      const want = softmaxXentRef(logits, labels, C);
      assertClose([got.loss], [want.loss], { atol: 1e-6, rtol: 1e-6 }, `loss ${what}`);
      assertClose(got.dlogits, want.dlogits, { atol: 1e-7, rtol: 1e-5 }, `dlogits ${what}`);
    }
  });
}

test("confident rows: the label's dlogit −(1 − p) keeps its relative precision, in every reduction variant", async () => {
  // The label's logit 9–14 above the rest: 1 − p between 1e-6 and 1e-4, where an f32 p − 1
  // keeps 6e-8 of it (5–6 % error); the reference subtracts in float64.
  const rand = createRng(8);
  const [rows, C] = [33, 10];
  const labels = labelsFor(rows, C, rand);
  const logits = randomArray(rows * C, rand, -1, 1);
  for (let r = 0; r < rows; r++) logits[r * C + labels[r]] = 9 + 5 * rand();
  const want = softmaxXentRef(logits, labels, C);
  const at = Array.from(labels, (l, r) => r * C + l);
  for (const reduce of ROW_REDUCE_CANDIDATES.filter((r) => !rowReduceUnsupported(r, ctx.device))) {
    const got = await softmaxXent(cache, logits, labels, { rows, classes: C }, reduce);
    assertClose(
      at.map((i) => got.dlogits[i]),
      at.map((i) => want.dlogits[i]),
      { atol: 0, rtol: 1e-4 },
      `label dlogits of confident rows ${JSON.stringify(reduce)}`,
    );
  }
});

test('the reference agrees with shared/mlp.ts softmaxCrossEntropy', () => {
  const rand = createRng(6);
  const logits = randomArray(9 * 4, rand, -3, 3);
  const labels = labelsFor(9, 4, rand);
  const shared = softmaxCrossEntropy(logits, labels, 4);
  const ref = softmaxXentRef(logits, labels, 4);
  assertClose([ref.loss], [shared.loss], { atol: 1e-12, rtol: 0 }, 'loss');
  assertClose(ref.dlogits, shared.dlogits, { atol: 1e-7, rtol: 0 }, 'dlogits');
});

test('dlogits matches finite differences of the loss; large logits stay finite', async () => {
  const rand = createRng(7);
  const [rows, C] = [5, 6];
  const logits = randomArray(rows * C, rand, -2, 2);
  const labels = labelsFor(rows, C, rand);
  const { dlogits } = await softmaxXent(cache, logits, labels, { rows, classes: C });
  const fd = finiteDifference((z) => softmaxXentRef(z, labels, C).loss, logits);
  assertClose(dlogits, fd, { atol: 1e-6, rtol: 1e-4 }, 'dlogits vs FD');

  // Max subtraction: logits of ±80 would overflow exp() without it.
  const big = logits.map((v) => v * 40);
  const got = await softmaxXent(cache, big, labels, { rows, classes: C });
  assert.ok(Number.isFinite(got.loss) && got.dlogits.every(Number.isFinite), 'non-finite output for large logits');
  assertClose([got.loss], [softmaxXentRef(big, labels, C).loss], { atol: 1e-4, rtol: 1e-5 }, 'loss at large logits');
});
