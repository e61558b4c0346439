import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateUpdates, framesRoot } from './aggregate.ts';
import { decodeFrame, encodeUpdate, frameLimits, hashFrame } from './codec.ts';
import { applyOuterStep } from './outer.ts';
import { createRng, gaussian } from './rng.ts';
import { hashParams } from './model.ts';

const pth = `0x${'22'.repeat(32)}` as const;
const codec = { density: 0.1, bits: 8 as const, chunkSize: 512 };
const n = 1500;
const limits = frameLimits({ paramTableHash: pth, paramCount: n, run: 1, codec, maxSamples: 1e6 });
const frame = (seed: number, samples: number, scale = 1) => {
  const r = createRng(seed);
  const bytes = encodeUpdate(Float32Array.from({ length: n }, () => gaussian(r) * scale), codec, { paramTableHash: pth, run: 1, round: 0, samples }).bytes;
  return { hash: hashFrame(bytes), frame: decodeFrame(bytes, limits) };
};

test('aggregation is order-independent and bit-identical', () => {
  const us = [frame(1, 32), frame(2, 64), frame(3, 96)];
  const a = aggregateUpdates(us, n, { kind: 'clipped-mean', clip: 3 });
  const b = aggregateUpdates([us[2], us[0], us[1]], n, { kind: 'clipped-mean', clip: 3 });
  assert.deepEqual(a.dense, b.dense);
  assert.equal(a.samples, 192);
  assert.equal(framesRoot(us.map((u) => u.hash)), framesRoot(us.map((u) => u.hash).reverse()));
});

test('sample-weighted mean, and clipping bounds an outlier', () => {
  const us = [frame(1, 10), frame(1, 30)];
  const m = aggregateUpdates(us, n, { kind: 'mean', clip: 0 });
  const i = us[0].frame.indices[0];
  assert.ok(Math.abs(m.dense[i] - us[0].frame.values[0]) < 1e-6, 'equal updates average to themselves');
  const honest = [frame(1, 10), frame(2, 10), frame(3, 10)];
  const attacker = frame(4, 10, 1000);
  const plain = aggregateUpdates([...honest, attacker], n, { kind: 'mean', clip: 0 });
  const clipped = aggregateUpdates([...honest, attacker], n, { kind: 'clipped-mean', clip: 3 });
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(norm(clipped.dense) < norm(plain.dense) / 50, `clipped ${norm(clipped.dense)} vs mean ${norm(plain.dense)}`);
});

test('outer Nesterov step is deterministic float32', () => {
  const g = aggregateUpdates([frame(5, 10)], n, { kind: 'mean', clip: 0 }).dense;
  const run = () => {
    const p = new Float32Array(n).fill(0.5);
    const m = new Float32Array(n);
    applyOuterStep(p, m, g, { lr: 0.7, momentum: 0.9 });
    applyOuterStep(p, m, g, { lr: 0.7, momentum: 0.9 });
    return hashParams(p);
  };
  assert.equal(run(), run());
  const p = new Float32Array(1).fill(1);
  const m = new Float32Array(1);
  applyOuterStep(p, m, Float32Array.of(0.1), { lr: 0.5, momentum: 0.9 });
  // m = 0.1, θ = 1 − 0.5·(0.1 + 0.9·0.1) = 0.905
  assert.ok(Math.abs(p[0] - 0.905) < 1e-6 && Math.abs(m[0] - 0.1) < 1e-7);
});
