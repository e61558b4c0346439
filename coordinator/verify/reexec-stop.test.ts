// Stopping the re-execution thread while Dawn re-executes a long check: the check stops within
// one segment and rejects (no result), instead of the stop waiting the whole re-execution out —
// a coordinator's SIGTERM waited for it (15 s and more on SwiftShader, ci25). Its own file: the
// CPU-fallback test in reexec-thread.test.ts points Dawn at a driver that does not exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { encodeUpdate, hashFrame } from '../../shared/codec.ts';
import { initParams, mlpSpec } from '../../shared/model.ts';
import { residualCommitment } from '../../shared/wire/index.ts';
import { smallMlpRun } from './reexec-fixture.ts';
import { ReexecThread, type ExecutorState } from './reexec-thread.ts';
import { verificationOf } from './index.ts';

test('stopping the thread mid-check stops the Dawn re-execution early: the check rejects, nothing is decided', { timeout: 180_000 }, async (t) => {
  // Far more steps than a check here needs to be in flight when the stop comes.
  const steps = 10_000;
  const { run, train, heldOut, rand } = smallMlpRun(7, steps);
  const theta = initParams(mlpSpec(run.sizes), run.seed);
  const account = privateKeyToAddress(`0x${'0d'.padStart(64, '0')}`).toLowerCase() as Address;
  const states: ExecutorState[] = [];
  const thread = new ReexecThread({ run, settings: verificationOf(run), train, heldOut, onExecutor: (s) => states.push(s) });
  let stopped = false;
  try {
    await thread.warm();
    if (states[0]?.executor !== 'dawn') return void t.skip(`no Dawn adapter here: ${states[0]?.fallback}`);
    // Any update will do: the check re-executes all `steps` before it compares.
    const delta = Float32Array.from({ length: run.paramCount }, () => (rand() - 0.5) * 1e-3);
    const samples = steps * run.inner.batchSize;
    const before = new Float32Array(run.paramCount);
    const { bytes, residual } = encodeUpdate(delta, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples });
    const claim = { account, round: 0, frameHash: hashFrame(bytes), residualHash: residualCommitment(before, residual), samples, steps };
    const t0 = performance.now();
    const pending = thread.check(theta, claim, { frame: bytes, residualBefore: before, residualAfter: residual });
    const settled = pending.then(
      (outcome) => ({ outcome, error: null, ms: performance.now() - t0 }),
      (error: Error) => ({ outcome: null, error, ms: performance.now() - t0 }),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const s0 = performance.now();
    await thread.stop();
    stopped = true;
    const stopMs = performance.now() - s0;
    const { outcome, error, ms } = await settled;
    assert.equal(
      outcome,
      null,
      `the check ran to its end (${ms.toFixed(0)} ms) instead of stopping: ${JSON.stringify(outcome && 'result' in outcome ? outcome.result.detail : outcome)}`,
    );
    const m = /Training stopped after (\d+) of (\d+) steps/.exec(error!.message);
    assert.ok(m, `the check failed otherwise: ${error!.message}`);
    assert.equal(Number(m[2]), steps);
    assert.ok(Number(m[1]) < steps, error!.message);
    // Stopped, not failed: the thread never fell back to the CPU reference.
    assert.deepEqual(
      states.map((s) => s.executor),
      ['dawn'],
    );
    console.log(`  [reexec-stop] ${m[0]}; stop() took ${stopMs.toFixed(0)} ms, the check settled ${ms.toFixed(0)} ms after it began`);
  } finally {
    if (!stopped) await thread.stop();
  }
});
