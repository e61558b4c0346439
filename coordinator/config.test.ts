import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnv } from './config.ts';

test('a GPT run needs IDLEGRAD_TEXT; the preset is validated by name', () => {
  assert.throws(() => configFromEnv({ IDLEGRAD_RUN: '{"preset":"gpt"}' }), /run\.preset is "gpt" but IDLEGRAD_TEXT is not set/);
  const cfg = configFromEnv({ IDLEGRAD_RUN: '{"preset":"gpt","gpt":{"layers":1}}', IDLEGRAD_TEXT: '/data/corpus.txt' });
  assert.equal(cfg.textPath, '/data/corpus.txt');
  assert.equal(cfg.run.preset, 'gpt');
  assert.equal(cfg.run.gpt?.layers, 1);
  assert.throws(() => configFromEnv({ IDLEGRAD_RUN: '{"preset":"transformer"}' }), /run\.preset: expected one of mlp, gpt, got "transformer"/);
  assert.equal(configFromEnv({}).run.preset, 'mlp');
});
