import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gptSpec, GPT_DEFAULT, initParams, mlpSpec, paramTableHash, tensor } from './model.ts';
import { byteBatch, gptEvaluate, gptLossAndGrad } from './gpt.ts';
import { createRng } from './rng.ts';

const tiny = gptSpec({ vocab: 7, context: 5, width: 8, layers: 2, heads: 2, hidden: 12 });

test('GPT reference gradient matches finite differences of its loss, every tensor', () => {
  const rand = createRng(11);
  // Random (not init) values everywhere so gains, biases and the residual scales all matter.
  const p = Float64Array.from({ length: tiny.paramCount }, () => (rand() - 0.5) * 0.6);
  const [B, T] = [2, 4];
  const tokens = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * 7));
  const targets = Uint32Array.from({ length: B * T }, () => Math.floor(rand() * 7));
  const { grad } = gptLossAndGrad(tiny, p, tokens, targets, B, T);
  const h = 1e-5;
  for (const t of tiny.tensors) {
    // Three entries per tensor, including the first and last.
    for (const i of [t.offset, t.offset + Math.floor(t.size / 2), t.offset + t.size - 1]) {
      const v = p[i];
      p[i] = v + h;
      const plus = gptLossAndGrad(tiny, p, tokens, targets, B, T, false).loss;
      p[i] = v - h;
      const minus = gptLossAndGrad(tiny, p, tokens, targets, B, T, false).loss;
      p[i] = v;
      const fd = (plus - minus) / (2 * h);
      assert.ok(Math.abs(fd - grad![i]) <= 1e-7 + 1e-5 * Math.abs(fd), `${t.name}[${i - t.offset}]: analytic ${grad![i]} vs FD ${fd}`);
    }
  }
});

test('GPT preset: default dims, one flat table, hash differs from the MLP and across dims', () => {
  const spec = gptSpec();
  assert.deepEqual(spec.dims, { vocab: 256, context: 64, width: 64, layers: 2, heads: 4, hidden: 256 });
  assert.deepEqual(spec.dims, { ...GPT_DEFAULT });
  const last = spec.tensors[spec.tensors.length - 1];
  assert.equal(last.offset + last.size, spec.paramCount);
  // wte + wpe + 2 layers × (ln 4C + qkv 3C² + proj C² + C + fc C·hidden + hidden + out hidden·C + C) + lnf 2C + head C·V
  const C = 64;
  assert.equal(spec.paramCount, 256 * C + 64 * C + 2 * (4 * C + 4 * C * C + C + 2 * C * 256 + 256 + C) + 2 * C + C * 256);
  assert.notEqual(paramTableHash(spec), paramTableHash(gptSpec({ ...GPT_DEFAULT, layers: 3 })));
  assert.notEqual(paramTableHash(spec), paramTableHash(mlpSpec([784, 64, 10])));
  const p = initParams(spec, 1);
  assert.ok(
    p.subarray(tensor(spec, 'h0.ln1.g').offset, tensor(spec, 'h0.ln1.g').offset + C).every((v) => v === 1),
    'gains start at 1',
  );
  assert.throws(() => gptSpec({ ...GPT_DEFAULT, heads: 5 }), /multiple of heads/);
});

test('initial loss is near ln(vocab); bad tokens are refused by name', () => {
  const spec = gptSpec();
  const text = Uint8Array.from({ length: 400 }, (_, i) => (i * 7) % 256);
  const { loss } = gptEvaluate(spec, initParams(spec, 1), text, 16, 4);
  assert.ok(Math.abs(loss - Math.log(256)) < 0.1, `loss ${loss} vs ln 256 = ${Math.log(256)}`);
  assert.throws(() => gptLossAndGrad(tiny, initParams(tiny, 1), [0, 9], [0, 1], 1, 2), /token 9 at 1 is not < vocab 7/);
  assert.throws(() => byteBatch(text, [399], 4), /window start 399/);
});
