import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-web';
import { gptLossAndGrad } from '../../../shared/gpt.ts';
import { gptSpec, initParams } from '../../../shared/model.ts';
import { exportGptOnnx } from '../../../shared/onnx.ts';
import { createRng } from '../../../shared/rng.ts';
import { gptLogits, sampleBytes } from './playground.ts';

ort.env.wasm.numThreads = 1;

test('GPT sampling through the exported ONNX model continues a prompt as the reference model does', async () => {
  const spec = gptSpec({ vocab: 256, context: 8, width: 16, layers: 1, heads: 2, hidden: 32 });
  const rand = createRng(2);
  const params = initParams(spec, 4).map((p) => p + (rand() - 0.5) * 0.5); // off the init, so the choice is not a near-tie
  const session = await ort.InferenceSession.create(exportGptOnnx(spec, params), { executionProviders: ['wasm'] });
  const reference = async (tokens: number[]) => Float32Array.from(gptLossAndGrad(spec, params, tokens, tokens, 1, tokens.length, false).logits);
  const prompt = new TextEncoder().encode('the cat sat');
  const o = { length: 12, temperature: 0, context: 8, seed: 1 };
  const greedy = await sampleBytes(gptLogits(session, ort.Tensor), prompt, o);
  assert.equal(greedy.length, 12);
  assert.deepEqual(greedy, await sampleBytes(reference, prompt, o), 'greedy continuation: ONNX and the float64 reference agree');
  // With a temperature the same seed gives the same bytes; the windows never exceed the context.
  const seen: number[] = [];
  const hot = { ...o, temperature: 1, seed: 9 };
  const a = await sampleBytes(async (t) => (seen.push(t.length), reference(t)), prompt, hot);
  assert.deepEqual(a, await sampleBytes(reference, prompt, hot));
  assert.ok(Math.max(...seen) === 8 && seen.every((n) => n <= 8));
  await assert.rejects(sampleBytes(reference, prompt, { ...o, temperature: -1 }), /temperature: expected ≥ 0, got -1/);
  await session.release();
});
