import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../shared/rng.ts';
import { assertClose, dot, finiteDifference, randomArray, testGpu } from '../test-gpu.ts';
import { embeddingBackward, embeddingForward, EMBEDDING_WG, tokenIndex, type EmbeddingShape } from './embedding.ts';
import { embeddingBackwardRef, embeddingForwardRef } from './embedding.ref.ts';

const { cache } = await testGpu();
const tol = { atol: 1e-6, rtol: 1e-5 };
const tokensFor = (n: number, V: number, rand: () => number) => Uint32Array.from({ length: n }, () => Math.floor(rand() * V));

test('embedding forward and backward (scatter-add, repeated tokens) match the CPU reference', async () => {
  const rand = createRng(80);
  const shapes: EmbeddingShape[] = [
    { B: 1, T: 1, C: 1, V: 1 },
    { B: 3, T: 7, C: 5, V: 4 },
    { B: 2, T: 9, C: EMBEDDING_WG + 3, V: 11 },
  ];
  for (const shape of shapes) {
    const { B, T, C, V } = shape;
    const tokens = tokensFor(B * T, V, rand);
    const wte = randomArray(V * C, rand);
    const wpe = randomArray(T * C, rand);
    assertClose(await embeddingForward(cache, tokens, wte, wpe, shape), embeddingForwardRef(tokens, wte, wpe, shape), tol, `x ${JSON.stringify(shape)}`);
    const dx = randomArray(B * T * C, rand);
    const got = await embeddingBackward(cache, tokens, dx, shape);
    const want = embeddingBackwardRef(tokens, dx, shape);
    assertClose(got.dwte, want.dwte, tol, `dwte ${JSON.stringify(shape)}`);
    assertClose(got.dwpe, want.dwpe, tol, `dwpe ${JSON.stringify(shape)}`);
  }
});

test('embedding backward matches finite differences of the forward', async () => {
  const rand = createRng(81);
  const shape = { B: 2, T: 5, C: 3, V: 4 };
  const tokens = tokensFor(10, 4, rand);
  const [wte, wpe, g] = [randomArray(12, rand), randomArray(15, rand), randomArray(30, rand)];
  const got = await embeddingBackward(cache, tokens, g, shape);
  assertClose(
    got.dwte,
    finiteDifference((w) => dot(g, embeddingForwardRef(tokens, w, wpe, shape)), wte),
    tol,
    'dwte vs FD',
  );
  assertClose(
    got.dwpe,
    finiteDifference((w) => dot(g, embeddingForwardRef(tokens, wte, w, shape)), wpe),
    tol,
    'dwpe vs FD',
  );
});

test('a token outside the vocabulary is refused by name before any dispatch', async () => {
  await assert.rejects(
    embeddingForward(cache, Uint32Array.from([1, 4]), new Float32Array(8), new Float32Array(4), { B: 1, T: 2, C: 2, V: 4 }),
    /token 4 at 1 is not < V 4/,
  );
});

test('tokenIndex: positions sorted by token, stable, with the run of each token', () => {
  const { order, starts } = tokenIndex([2, 0, 2, 1, 0], 4);
  assert.deepEqual(Array.from(order), [1, 4, 3, 0, 2]);
  assert.deepEqual(Array.from(starts), [0, 2, 3, 5, 5]);
});
