import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN, modelOf, runSpecOf, validateRunSettings, type RunSettings } from './config.ts';
import { gptSpec, GPT_DEFAULT, initParams, paramTableHash } from './model.ts';
import { gptEvaluate } from './gpt.ts';
import { evaluateModel, textWindows, trainLocal, windowBatch } from './preset.ts';

const text = new TextEncoder().encode('abcdefghij'.repeat(8));

test('text windows: T + 1 bytes each at the stride; a batch gives inputs and next-byte targets', () => {
  const d = textWindows(text, 4, 3);
  assert.equal(d.features, 5);
  assert.equal(d.count, Math.floor((80 - 5) / 3) + 1);
  assert.equal(new TextDecoder().decode(d.images.subarray(5, 10)), 'defgh');
  const { tokens, targets } = windowBatch(d, [1, 0]);
  assert.deepEqual(
    Array.from(tokens),
    [...'defgabcd'].map((c) => c.charCodeAt(0)),
  );
  assert.deepEqual(
    Array.from(targets),
    [...'efghbcde'].map((c) => c.charCodeAt(0)),
  );
  assert.throws(() => windowBatch(d, [d.count]), /window index 26 outside dataset of 26/);
  assert.throws(() => textWindows(text.subarray(0, 4), 4), /4 bytes hold no window of 5 bytes/);
});

test('GPT evaluation and local training through the preset interface', () => {
  const spec = gptSpec({ vocab: 256, context: 8, width: 8, layers: 1, heads: 2, hidden: 16 });
  const p = initParams(spec, 2);
  const d = textWindows(text, 8, 8);
  const ev = evaluateModel(spec, p, d);
  assert.ok(Math.abs(ev.loss - gptEvaluate(spec, p, text, 8, 100).loss) < 1e-6, 'same windows, same loss as gptEvaluate');
  assert.ok(ev.accuracy >= 0 && ev.accuracy <= 1);
  const adamw = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };
  const r = trainLocal(
    spec,
    p,
    d,
    Array.from({ length: 30 }, () => [0, 1, 2]),
    adamw,
  );
  assert.ok(r.lossAfter < r.lossBefore - 1, `30 steps on 3 windows: ${r.lossBefore} → ${r.lossAfter}`);
  assert.throws(() => trainLocal(spec, p, textWindows(text, 9), [[0]], adamw), /windows of 10 bytes do not fit context 8/);
});

test('run settings: preset is validated by name; GPT dims merge over GPT_DEFAULT into the hash', () => {
  const gpt: RunSettings = { ...DEFAULT_RUN, preset: 'gpt' };
  assert.equal(paramTableHash(modelOf(gpt)), paramTableHash(gptSpec(GPT_DEFAULT)));
  assert.notEqual(paramTableHash(modelOf({ ...gpt, gpt: { layers: 3 } })), paramTableHash(gptSpec(GPT_DEFAULT)));
  const spec = runSpecOf(1, gpt, { name: 'text', trainCount: 10, testCount: 2, features: 65, classes: 256 });
  assert.equal(spec.paramCount, gptSpec(GPT_DEFAULT).paramCount);
  assert.throws(
    () => validateRunSettings({ ...DEFAULT_RUN, preset: 'rnn' as 'mlp' }),
    /^Error: run\.preset: expected one of mlp, gpt-micro, gpt-small, gpt-base, gpt, got "rnn"/,
  );
  assert.throws(() => validateRunSettings({ ...gpt, gpt: { heads: 5 } }), /^Error: run\.gpt: gptSpec: width 64 is not a multiple of heads 5/);
  assert.throws(() => validateRunSettings({ ...gpt, gpt: { layers: 0 } }), /run\.gpt: gptSpec: layers must be a positive integer, got 0/);
  assert.equal(modelOf(DEFAULT_RUN).preset, 'mlp');
});
