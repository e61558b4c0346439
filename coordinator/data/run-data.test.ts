import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import { grammarCorpus } from '../../e2e/grammar-corpus.ts';
import { checkRunData, runData } from './run-data.ts';
import { textId } from './texts.ts';
import type { MnistSplits } from './mnist.ts';

const tinyMnist = (): MnistSplits => {
  const ds = (count: number) => ({ images: new Uint8Array(count * 784), labels: new Uint8Array(count), count, features: 784, classes: 10 });
  return { train: ds(30), test: ds(5) };
};

test('a run gets the data of its preset: MNIST for the MLP, its own text (windows of context + 1) for the GPT', () => {
  let loads = 0;
  const mnist = () => (loads++, tinyMnist());
  const mlp = runData(DEFAULT_RUN, null, mnist);
  assert.deepEqual(mlp.dataset, { name: 'mnist', trainCount: 30, testCount: 5, features: 784, classes: 10 });
  const gptRun = { ...DEFAULT_RUN, preset: 'gpt' as const, gpt: { context: 8, layers: 1 } };
  const text = grammarCorpus(2000, 1);
  const gpt = runData(gptRun, text, mnist);
  assert.equal(loads, 1, 'a GPT run does not load MNIST');
  assert.deepEqual(gpt.dataset, {
    name: 'text',
    text: textId(text),
    trainCount: Math.floor((1800 - 9) / 4) + 1,
    testCount: Math.floor((200 - 9) / 8) + 1,
    features: 9,
    classes: 256,
  });
  assert.deepEqual(gpt.train.images.subarray(9, 18), text.subarray(4, 13));
  assert.throws(() => runData(gptRun, null, mnist), /^Error: text: a GPT run needs a text/);
  assert.throws(() => runData(DEFAULT_RUN, text, mnist), /^Error: text: an MLP run trains on MNIST/);
  assert.throws(() => runData(gptRun, text.subarray(0, 50), mnist), /^Error: text [0-9a-f]{12}…: 50 bytes are too few/);
  const spec = runSpecOf(2, gptRun, gpt.dataset);
  checkRunData(spec, gpt);
  assert.throws(
    () => checkRunData(spec, runData(gptRun, grammarCorpus(3000, 1), mnist)),
    /^Error: run 2: its text data has trainCount \d+, the run was created with \d+/,
  );
});
