// Training FLOPs per sample, the dashboard's GFLOP/s numerator, counted by hand for both presets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gptSpec, mlpSpec } from './model.ts';
import { trainingFlopsPerSample } from './preset.ts';

test('trainingFlopsPerSample: 6 × forward multiply-adds, MLP and GPT', () => {
  assert.equal(trainingFlopsPerSample(mlpSpec([784, 64, 10])), 6 * (784 * 64 + 64 * 10));
  // T=4, C=8, 1 layer, MLP 16, vocab 5: per token qkv 192 + proj 64 + MLP 256 + head 40 = 552;
  // attention QKᵀ and AV over the causal half: 2 × 8 × (1+2+3+4) = 160.
  const spec = gptSpec({ vocab: 5, context: 4, width: 8, layers: 1, heads: 2, hidden: 16 });
  assert.equal(trainingFlopsPerSample(spec), 6 * (4 * 552 + 160));
});
