// For the re-execution thread's tests (reexec-thread.test.ts, reexec-stop.test.ts): a small MLP
// run (784-64-10, batch 32) on random MNIST-shaped data, 512 training and 64 held-out samples.
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { createRng } from '../../shared/rng.ts';

export function smallMlpRun(seed: number, steps: number): { run: RunSpec; train: Dataset; heldOut: Dataset; rand: () => number } {
  const rand = createRng(seed);
  const ds = (count: number): Dataset => ({
    images: Uint8Array.from({ length: count * 784 }, () => Math.floor(rand() * 256)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
    features: 784,
    classes: 10,
  });
  const train = ds(512);
  const heldOut = ds(64);
  const run = runSpecOf(
    1,
    { ...DEFAULT_RUN, sizes: [784, 64, 10], inner: { ...DEFAULT_RUN.inner, state: 'round', steps, batchSize: 32 }, verification: { heldOutSamples: 64 } },
    { name: 'mnist', trainCount: train.count, testCount: heldOut.count, features: 784, classes: 10 },
  );
  return { run, train, heldOut, rand };
}
