// Re-execution with the WGSL trainers through Dawn (coordinator/verify/reexec.ts): an honest update
// from the CPU reference (what the virtual volunteers and the pages' CPU fallback send) passes
// a Dawn check for both presets, every cheat still fails by name, each result names its
// executor, and without Dawn the CPU reference re-executes and says why.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { DEFAULT_RUN, modelOf, runSpecOf, type RunSettings } from '../../shared/config.ts';
import { encodeUpdate, hashFrame } from '../../shared/codec.ts';
import { initParams } from '../../shared/model.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { textWindows } from '../../shared/preset.ts';
import { createRng } from '../../shared/rng.ts';
import { residualCommitment, residualDigest } from '../../shared/wire/index.ts';
import { useSwiftShaderWhenNoDriver } from '../../kernels/swiftshader.ts';
import { createReexecutor, type Reexecutor } from './reexec.ts';
import { checkContribution, referenceDelta, verificationOf, type CheckResult } from './index.ts';

useSwiftShaderWhenNoDriver();
const account = privateKeyToAddress(`0x${'0b'.padStart(64, '0')}`).toLowerCase() as Address;
const reason = (r: CheckResult) => (r.passed ? 'passed' : r.rejection.code);
/** rx.check for evidence with both residuals in full: always a verdict. */
const resultOf =
  (rx: Reexecutor) =>
  async (...args: Parameters<Reexecutor['check']>): Promise<CheckResult> => {
    const o = await rx.check(...args);
    assert.ok('result' in o, 'a check with both residuals in full needs nothing more');
    return o.result;
  };
const open: Reexecutor[] = [];
after(() => Promise.all(open.map((r) => r.destroy())));

function setup(settings: RunSettings, train: Dataset, heldOut: Dataset) {
  const run = runSpecOf(1, settings, {
    name: settings.preset === 'gpt' ? 'text' : 'mnist',
    trainCount: train.count,
    testCount: heldOut.count,
    features: train.features,
    classes: train.classes,
  });
  const theta = initParams(modelOf(run), run.seed);
  /** A member's frame with Δ = `delta` (no carried residual), claiming `steps` steps. */
  const member = (delta: Float32Array, steps = run.inner.steps) => {
    const samples = steps * run.inner.batchSize;
    const before = new Float32Array(run.paramCount);
    const { bytes, residual } = encodeUpdate(delta, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples });
    return {
      claim: { account, round: 0, frameHash: hashFrame(bytes), residualHash: residualCommitment(before, residual), samples, steps },
      evidence: { frame: bytes, residualBefore: before, residualAfter: residual },
    };
  };
  return { run, v: verificationOf(run), theta, member, cpuDelta: (steps = run.inner.steps) => referenceDelta(run, theta, train, account, 0, steps) };
}

function mnistLike(count: number, seed: number): Dataset {
  const rand = createRng(seed);
  return {
    images: Uint8Array.from({ length: count * 784 }, () => Math.floor(rand() * 256)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
    features: 784,
    classes: 10,
  };
}

test('MLP: Dawn re-execution passes honest CPU-trained work, fails each cheat by name, and says "dawn"', { timeout: 300_000 }, async () => {
  const train = mnistLike(512, 1);
  const heldOut = mnistLike(64, 2);
  const { run, v, theta, member, cpuDelta } = setup(
    { ...DEFAULT_RUN, sizes: [784, 32, 10], inner: { ...DEFAULT_RUN.inner, state: 'round', steps: 8, batchSize: 16 }, verification: { heldOutSamples: 32 } },
    train,
    heldOut,
  );
  const rx = await createReexecutor(run, v, train, heldOut);
  open.push(rx);
  assert.equal(rx.executor, 'dawn', `Dawn should start here (SwiftShader): ${rx.fallback}`);
  assert.equal(rx.fallback, null);

  const honest = member(cpuDelta());
  const r = await resultOf(rx)(theta, honest.claim, honest.evidence);
  assert.ok(r.passed, JSON.stringify(r));
  assert.equal(r.detail.executor, 'dawn');
  assert.ok(r.detail.relDelta! > 0 && r.detail.relDelta! < v.tolerance / 10, `Dawn vs CPU drift ${r.detail.relDelta}`);
  console.log(`  [reexec] MLP Dawn vs CPU: relDelta ${r.detail.relDelta!.toExponential(2)}, relFrame ${r.detail.relFrame!.toExponential(2)}`);

  // e_a sent as its digest only: Dawn's Δ is not bit-identical to this CPU-trained one (relDelta > 0
  // above), so it cannot be derived and the member must upload it.
  const digestOnly = await rx.check(theta, honest.claim, { ...honest.evidence, residualAfter: residualDigest(honest.evidence.residualAfter) });
  assert.ok('needs' in digestOnly && digestOnly.needs === 'after' && digestOnly.ms > 0, JSON.stringify(digestOnly));

  const lazy = member(new Float32Array(run.paramCount));
  assert.equal(reason(await resultOf(rx)(theta, lazy.claim, lazy.evidence)), 'WORK_MISMATCH');
  // fewer samples: 4 steps of work in a frame that claims 8.
  const fewer = member(cpuDelta(run.inner.steps / 2));
  const fewerRes = await resultOf(rx)(theta, fewer.claim, fewer.evidence);
  assert.equal(reason(fewerRes), 'WORK_MISMATCH');
  assert.equal(fewerRes.detail.executor, 'dawn');
  // Far above drift: re-executed again with Dawn and with the CPU reference before the verdict; all agree.
  const re = fewerRes.detail.recheck!;
  assert.ok(re.first > v.tolerance && re.dawn > v.tolerance && re.cpu > v.tolerance, JSON.stringify(re));
  assert.ok(Math.abs(re.first - re.dawn) < 1e-3 && r.detail.recheck === undefined, 'honest work is not rechecked');
  const rand = createRng(9);
  const random = member(cpuDelta().map(() => (rand() - 0.5) * 1e-3));
  assert.equal(reason(await resultOf(rx)(theta, random.claim, random.evidence)), 'WORK_MISMATCH');

  // Work a member trained on its CPU is re-executed by the CPU reference (bit-equal), Dawn or not.
  const onCpu = await resultOf(rx)(theta, { ...honest.claim, device: 'cpu' }, honest.evidence);
  assert.ok(onCpu.passed && onCpu.detail.executor === 'cpu' && onCpu.detail.relDelta! < 1e-6, JSON.stringify(onCpu));
  const lazyOnCpu = await resultOf(rx)(theta, { ...lazy.claim, device: 'cpu' }, lazy.evidence);
  assert.equal(reason(lazyOnCpu), 'WORK_MISMATCH');
  assert.equal(rx.executor, 'dawn', 'the thread keeps Dawn for the next check');
});

test(
  'GPT: Dawn re-execution (the GPT trainer on windows of the text) passes honest CPU-trained work and fails a lazy frame',
  { timeout: 300_000 },
  async () => {
    const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(40));
    const T = 16;
    const train = textWindows(text, T, 4);
    const heldOut = textWindows(text.subarray(0, 400), T);
    const { run, v, theta, member, cpuDelta } = setup(
      {
        ...DEFAULT_RUN,
        preset: 'gpt',
        gpt: { context: T, width: 32, layers: 1, heads: 2, hidden: 64 },
        inner: { ...DEFAULT_RUN.inner, state: 'round', steps: 3, batchSize: 4 },
        verification: { heldOutSamples: 8 },
      },
      train,
      heldOut,
    );
    const rx = await createReexecutor(run, v, train, heldOut);
    open.push(rx);
    assert.equal(rx.executor, 'dawn', `Dawn should start here (SwiftShader): ${rx.fallback}`);
    const honest = member(cpuDelta());
    const r = await resultOf(rx)(theta, honest.claim, honest.evidence);
    assert.ok(r.passed, JSON.stringify(r));
    assert.equal(r.detail.executor, 'dawn');
    assert.ok(r.detail.relDelta! < v.tolerance / 10, `Dawn vs CPU drift ${r.detail.relDelta}`);
    console.log(`  [reexec] GPT Dawn vs CPU: relDelta ${r.detail.relDelta!.toExponential(2)}, relFrame ${r.detail.relFrame!.toExponential(2)}`);
    const lazy = member(new Float32Array(run.paramCount));
    assert.equal(reason(await resultOf(rx)(theta, lazy.claim, lazy.evidence)), 'WORK_MISMATCH');
  },
);

test('without Dawn the CPU reference re-executes, says why, and every result says "cpu"', async () => {
  const train = mnistLike(128, 3);
  const heldOut = mnistLike(32, 4);
  const { run, v, theta, member, cpuDelta } = setup(
    { ...DEFAULT_RUN, sizes: [784, 8, 10], inner: { ...DEFAULT_RUN.inner, state: 'round', steps: 2, batchSize: 8 }, verification: { heldOutSamples: 16 } },
    train,
    heldOut,
  );
  const rx = await createReexecutor(run, v, train, heldOut, { gpu: false });
  assert.equal(rx.executor, 'cpu');
  assert.match(rx.fallback ?? '', /Dawn not requested/);
  const honest = member(cpuDelta());
  const r = await resultOf(rx)(theta, honest.claim, honest.evidence);
  assert.ok(r.passed && r.detail.relDelta! < 1e-6, JSON.stringify(r));
  assert.equal(r.detail.executor, 'cpu');
  const lazy = member(new Float32Array(run.paramCount));
  const l = await resultOf(rx)(theta, lazy.claim, lazy.evidence);
  assert.equal(reason(l), 'WORK_MISMATCH');
  assert.equal(l.detail.executor, 'cpu');

  // e_a as its digest only: a bit-identical re-execution derives it (the residual the validator
  // carries forward is the member's, bit for bit); a lazy frame's e_a cannot be derived.
  const derived = await rx.check(theta, honest.claim, { ...honest.evidence, residualAfter: residualDigest(honest.evidence.residualAfter) });
  assert.ok('result' in derived && derived.result.passed, JSON.stringify(derived));
  assert.deepEqual(derived.residualAfter, { values: honest.evidence.residualAfter, digest: residualDigest(honest.evidence.residualAfter), exact: true });
  const lazyDigest = await rx.check(theta, lazy.claim, { ...lazy.evidence, residualAfter: residualDigest(lazy.evidence.residualAfter) });
  assert.ok('needs' in lazyDigest && lazyDigest.needs === 'after', JSON.stringify(lazyDigest));

  // The held-out loss of θ_r is kept between checks of one θ_r and evaluated again for another:
  // each check's lossGain is the pure check's, for this θ_r and for a different one.
  const other = theta.map((x) => 0.5 * x);
  for (const t of [theta, other, theta]) {
    const kept = await resultOf(rx)(t, honest.claim, honest.evidence);
    assert.equal(kept.detail.lossGain, checkContribution(run, v, t, train, heldOut, honest.claim, honest.evidence).detail.lossGain);
  }
  assert.notEqual(
    checkContribution(run, v, other, train, heldOut, honest.claim, honest.evidence).detail.lossGain,
    checkContribution(run, v, theta, train, heldOut, honest.claim, honest.evidence).detail.lossGain,
  );
});
