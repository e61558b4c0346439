// The data of a run follows its preset: MNIST for the MLP, the run's own text for the GPT. The
// platform builds one of these for every run it hosts (served at /api/data/train, the held-out
// split for evaluation and spot checks), and records `dataset` in the run spec.
import type { RunSettings, RunSpec } from '../../shared/config.ts';
import { modelOf } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import type { MnistSplits } from './mnist.ts';
import { splitText } from './text.ts';
import { textId } from './texts.ts';

export interface RunData {
  train: Dataset;
  test: Dataset;
  dataset: RunSpec['dataset'];
}

/**
 * The splits of `run`'s data: `text` for a GPT run (required; windows of the GPT's context; the
 * held-out split sampled as `run.heldOut` says, with the run's seed),
 * MNIST (`mnist()`, loaded on first use by the caller) for an MLP. Errors name `text`.
 */
export function runData(run: Pick<RunSettings, 'preset' | 'sizes' | 'gpt' | 'heldOut' | 'seed'>, text: Uint8Array | null, mnist: () => MnistSplits): RunData {
  const spec = modelOf(run);
  if (spec.preset === 'mlp') {
    if (text) throw new Error('text: an MLP run trains on MNIST, not on a text');
    const { train, test } = mnist();
    return { train, test, dataset: { name: 'mnist', trainCount: train.count, testCount: test.count, features: train.features, classes: train.classes } };
  }
  if (!text) throw new Error('text: a GPT run needs a text to train on');
  const id = textId(text);
  const sample = run.heldOut && { windows: run.heldOut.windows, seed: run.seed };
  const { train, test } = splitText(text, { T: spec.dims.context, sample }, `text ${id.slice(0, 12)}…`);
  return { train, test, dataset: { name: 'text', text: id, trainCount: train.count, testCount: test.count, features: train.features, classes: train.classes } };
}

/** The counts of `got` must be those the run was created with (a changed file or MNIST build is named). */
export function checkRunData(run: RunSpec, got: RunData): void {
  const want = run.dataset;
  const have = got.dataset;
  for (const k of ['trainCount', 'testCount', 'features', 'classes'] as const) {
    if (want[k] !== have[k]) throw new Error(`run ${run.id}: its ${want.name} data has ${k} ${have[k]}, the run was created with ${want[k]}`);
  }
}
