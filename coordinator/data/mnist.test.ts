import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadMnist, MNIST_FEATURES } from './mnist.ts';
import type { Dataset } from '../../shared/mlp.ts';

const digits = (d: Dataset, label: number) => {
  const out: string[] = [];
  for (let i = 0; i < d.count; i++)
    if (d.labels[i] === label) out.push(Buffer.from(d.images.subarray(i * MNIST_FEATURES, (i + 1) * MNIST_FEATURES)).toString('base64'));
  return out;
};

test('the held-out split is a seeded random sample of each class: 15 % of every class, spread over its file, the same on every load', () => {
  const a = loadMnist();
  const b = loadMnist();
  assert.deepEqual(a.test.images, b.test.images, 'the same split on every load');
  assert.deepEqual(a.train.labels, b.train.labels);
  assert.notDeepEqual(loadMnist(0.15, 8).test.images, a.test.images, 'another seed, another sample');

  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  for (const label of [0, 7]) {
    const file = (JSON.parse(readFileSync(join(dir, `${label}.json`), 'utf8')) as { data: number[] }).data;
    const n = file.length / MNIST_FEATURES;
    const position = new Map<string, number>();
    for (let i = 0; i < n; i++)
      position.set(Buffer.from(Uint8Array.from(file.slice(i * MNIST_FEATURES, (i + 1) * MNIST_FEATURES), (v) => Math.round(v * 255))).toString('base64'), i);
    const held = digits(a.test, label).map((d) => position.get(d));
    const kept = digits(a.train, label);
    assert.equal(held.length, Math.round(n * 0.15), `class ${label}: 15 % held out`);
    assert.equal(held.length + kept.length, n, `class ${label}: every digit in one split`);
    assert.ok(held.every((p) => p !== undefined));
    // The last 15 % of the file was the old split; a random sample has about 15 % of its digits
    // in each sixth of the file.
    const firstHalf = held.filter((p) => p! < n / 2).length;
    assert.ok(
      firstHalf > held.length * 0.35 && firstHalf < held.length * 0.65,
      `class ${label}: ${firstHalf} of ${held.length} held-out digits in the first half of the file`,
    );
  }
});
