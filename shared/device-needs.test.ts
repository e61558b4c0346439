import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceNeeds, deviceShortfalls } from './device-needs.ts';
import { gptSpec, GPT_BASE, GPT_DEFAULT, GPT_SMALL, mlpSpec } from './model.ts';

const MiB = 2 ** 20;
/** WebGPU's default limits: what a device gets when it asks for nothing more. */
const DEFAULT_LIMITS = { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB };

test('parameters and optimizer state: θ padded to 256-byte tensor boundaries, three more copies of it for the gradient and AdamW', () => {
  for (const spec of [mlpSpec([784, 64, 10]), gptSpec(GPT_DEFAULT), gptSpec(GPT_SMALL)]) {
    const n = deviceNeeds(spec, { steps: 10, batchSize: 4 });
    assert.equal(n.paramCount, spec.paramCount);
    assert.ok(n.paramBytes >= spec.paramCount * 4 && n.paramBytes < spec.paramCount * 4 + 256 * (spec.tensors.length + 1), `${spec.preset} ${n.paramBytes}`);
    assert.equal(n.paramBytes % 256, 0);
    assert.equal(n.optimizerBytes, 3 * n.paramBytes + (spec.preset === 'gpt' ? 4 : 0));
    assert.equal(n.totalBytes, n.paramBytes + n.optimizerBytes + n.activationBytes + n.roundBytes);
    assert.deepEqual(n.features, []);
  }
});

test("a GPT's activations grow with the batch and the context, its parameters do not", () => {
  const one = deviceNeeds(gptSpec(GPT_SMALL), { steps: 1, batchSize: 1 });
  const two = deviceNeeds(gptSpec(GPT_SMALL), { steps: 1, batchSize: 2 });
  const four = deviceNeeds(gptSpec(GPT_SMALL), { steps: 1, batchSize: 4 });
  assert.equal(two.paramBytes, one.paramBytes);
  // Linear in B apart from the token index's V + 1 starts, which do not depend on B.
  const starts = (GPT_SMALL.vocab + 1) * 4;
  assert.equal(four.activationBytes - starts, 4 * (one.activationBytes - starts));
  assert.equal(two.activationBytes - starts, 2 * (one.activationBytes - starts));
  // Per layer at least the 16 (B·T, C)-sized buffers the backward reads (ln, qkv ×3, att, mid, ln2, out, fc ×4 … ×2 for pre/act).
  const { context: T, width: C, layers: L } = GPT_SMALL;
  assert.ok(one.activationBytes > L * 16 * T * C * 4, `${one.activationBytes}`);
  const shortContext = deviceNeeds(gptSpec({ ...GPT_SMALL, context: 128 }), { steps: 1, batchSize: 1 });
  assert.ok(shortContext.activationBytes < one.activationBytes * 0.6);
});

test('the largest binding: θ at gpt-small and gpt-base batches, the logits when the batch is huge', () => {
  const small = deviceNeeds(gptSpec(GPT_SMALL), { steps: 50, batchSize: 4 });
  assert.equal(small.largestBindingBytes, small.paramBytes);
  const base = deviceNeeds(gptSpec(GPT_BASE), { steps: 50, batchSize: 2 });
  assert.equal(base.largestBindingBytes, base.paramBytes);
  const wide = gptSpec({ ...GPT_DEFAULT, context: 1024 });
  const huge = deviceNeeds(wide, { steps: 1, batchSize: 4096 });
  assert.equal(huge.largestBindingBytes, 4096 * 1024 * 256 * 4, 'the (B·T, vocab) logits');
  // A round's upload of every step's tokens is a buffer too (maxBufferSize), never a binding.
  const manySteps = deviceNeeds(gptSpec(GPT_DEFAULT), { steps: 10_000, batchSize: 8 });
  assert.equal(manySteps.largestBufferBytes, 10_000 * (8 * 64 + 257) * 4, 'the per-round token index');
  assert.ok(manySteps.largestBufferBytes > manySteps.largestBindingBytes);
});

test("an MLP's training shard lives in one binding: counted when the dataset is given", () => {
  const spec = mlpSpec([784, 64, 10]);
  const without = deviceNeeds(spec, { steps: 100, batchSize: 32 });
  const withData = deviceNeeds(spec, { steps: 100, batchSize: 32 }, { trainCount: 8500, features: 784 });
  assert.equal(withData.activationBytes - without.activationBytes, 8500 * 784 + 8500);
  assert.equal(withData.largestBindingBytes, 8500 * 784);
});

test('shortfalls: the presets fit WebGPU defaults; a run past a limit is told which limit and by how much', () => {
  for (const [dims, B] of [
    [GPT_DEFAULT, 8],
    [GPT_SMALL, 4],
    [GPT_BASE, 2],
  ] as const)
    assert.deepEqual(deviceShortfalls(deviceNeeds(gptSpec(dims), { steps: 50, batchSize: B }), DEFAULT_LIMITS), [], JSON.stringify(dims));
  const huge = deviceNeeds(gptSpec({ ...GPT_DEFAULT, context: 1024 }), { steps: 1, batchSize: 4096 });
  const why = deviceShortfalls(huge, { maxStorageBufferBindingSize: 1024 * MiB, maxBufferSize: 1024 * MiB });
  assert.equal(why.length, 2);
  assert.match(why[0], /binds a 4096 MiB buffer and this GPU binds at most 1024 MiB \(maxStorageBufferBindingSize\)/);
  assert.match(why[1], /needs a 4096 MiB buffer and this GPU allows at most 1024 MiB \(maxBufferSize\)/);
  assert.deepEqual(deviceShortfalls(huge, {}), [], 'unknown limits are not guessed');
  const needsF16 = { ...huge, features: ['shader-f16'] };
  assert.match(deviceShortfalls(needsF16, {}, ['subgroups'])[0], /"shader-f16", which this GPU lacks/);
  assert.deepEqual(deviceShortfalls(needsF16, {}, ['shader-f16']), []);
});
