// For the spot-check tests: a small MLP run (784-64-10, batch 32) on random MNIST-shaped data, 512
// training and 64 held-out samples (reexec-thread.test.ts, reexec-stop.test.ts); MNIST-shaped random
// data and a ledger Contribution for a claim (validator.test.ts, inner-state.test.ts).
import { zeroHash, type Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../shared/config.ts';
import type { Contribution } from '../../shared/eip712.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { createRng } from '../../shared/rng.ts';

/** `count` random 784-byte images, labels 0–9 in turn. */
export function mnistLike(count: number, seed: number): Dataset {
  const rand = createRng(seed);
  const images = Uint8Array.from({ length: count * 784 }, () => Math.floor(rand() * 256));
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images, labels, count, features: 784, classes: 10 };
}

/** The signed Contribution a claim stands for in the ledger (cohort 0, its own frame as the aggregate). */
export const contributionFor = (run: { id: number }, claim: { frameHash: Hex; samples: number; steps: number }, nonce: bigint, round = 0): Contribution => ({
  run: run.id,
  round,
  cohort: 0,
  frameHash: claim.frameHash,
  aggregateHash: claim.frameHash,
  framesRoot: claim.frameHash,
  residualHash: zeroHash,
  samples: claim.samples,
  steps: claim.steps,
  lossBeforeMicro: 1,
  lossAfterMicro: 1,
  computeMs: 1,
  nonce,
  expiry: 9_999_999_999n,
  partner: '',
});

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
