import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { loadMnist, MNIST_DIGITS_FILE, MNIST_FEATURES, readMnistDigits } from './mnist.ts';
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

  const classes = readMnistDigits();
  for (const label of [0, 7]) {
    const file = classes[label];
    const n = file.length / MNIST_FEATURES;
    const position = new Map<string, number>();
    for (let i = 0; i < n; i++) position.set(Buffer.from(file.subarray(i * MNIST_FEATURES, (i + 1) * MNIST_FEATURES)).toString('base64'), i);
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

test("the digits file holds the package's 10,000 digits by class; a truncated file is refused, its sizes named", () => {
  const classes = readMnistDigits();
  // The per-class counts of the mnist package's 0.json … 9.json.
  assert.deepEqual(
    classes.map((c) => c.length / MNIST_FEATURES),
    [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978],
  );
  assert.ok(
    classes.every((c) => c.some((v) => v > 200) && c.some((v) => v === 0)),
    'pixels span 0 … 255',
  );
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-mnist-'));
  try {
    const raw = gunzipSync(readFileSync(MNIST_DIGITS_FILE));
    writeFileSync(join(dir, 'short.bin.gz'), gzipSync(raw.subarray(0, raw.length - 1)));
    assert.throws(() => readMnistDigits(join(dir, 'short.bin.gz')), /7840039 bytes, but its class counts .* need 7840040/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
