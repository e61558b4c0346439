// The re-execution thread: checks run off the event loop, and a thread whose Dawn finds no
// usable adapter (a Vulkan driver file that does not exist) re-executes on the CPU and says so;
// the thread runs at niceness 19 while the coordinator's main thread keeps its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, platform } from 'node:os';
import type { Address } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { encodeUpdate, hashFrame } from '../../shared/codec.ts';
import { initParams, mlpSpec } from '../../shared/model.ts';
import { residualCommitment } from '../../shared/wire/index.ts';
import { smallMlpRun } from './reexec-fixture.ts';
import { ReexecThread, type ExecutorState } from './reexec-thread.ts';
import { referenceDelta, verificationOf } from './index.ts';

/** Each thread of this process (Linux /proc) and its niceness. */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    // Fields after the command's closing parenthesis: state is field 3, niceness field 19.
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}

test('no usable adapter: the thread re-executes with the CPU reference, says why, and the event loop keeps turning', { timeout: 120_000 }, async () => {
  process.env.VK_ICD_FILENAMES = '/nonexistent/vk_icd.json'; // before the thread starts Dawn
  const { run, train, heldOut } = smallMlpRun(5, 30);
  const theta = initParams(mlpSpec(run.sizes), run.seed);
  const account = privateKeyToAddress(`0x${'0c'.padStart(64, '0')}`).toLowerCase() as Address;
  const states: ExecutorState[] = [];
  const mainNice = getPriority(0);
  const thread = new ReexecThread({ run, settings: verificationOf(run), train, heldOut, onExecutor: (s) => states.push(s) });
  try {
    const delta = referenceDelta(run, theta, train, account, 0, run.inner.steps);
    const samples = run.inner.steps * run.inner.batchSize;
    const before = new Float32Array(run.paramCount);
    const { bytes, residual } = encodeUpdate(delta, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples });
    const claim = { account, round: 0, frameHash: hashFrame(bytes), residualHash: residualCommitment(before, residual), samples, steps: run.inner.steps };
    let ticks = 0;
    let done = false;
    const spin = () => {
      if (done) return;
      ticks++;
      setImmediate(spin);
    };
    const pending = thread.check(theta, claim, { frame: bytes, residualBefore: before, residualAfter: residual });
    setImmediate(spin);
    const outcome = await pending.finally(() => (done = true));
    assert.ok('result' in outcome, 'both residuals were given in full');
    const r = outcome.result;
    assert.ok(r.passed, JSON.stringify(r));
    assert.equal(r.detail.executor, 'cpu');
    assert.equal(states.length, 1);
    assert.equal(states[0].executor, 'cpu');
    assert.match(states[0].fallback ?? '', /^Dawn could not start: /);
    // On the event loop the re-execution would have run in one macrotask: no turn between.
    assert.ok(ticks > 10, `the event loop turned ${ticks} times during a ${r.detail.ms.toFixed(0)} ms check`);
    console.log(`  [reexec-thread] fallback: ${states[0].fallback}; ${ticks} event-loop turns during a ${r.detail.ms.toFixed(0)} ms check`);
    if (platform() === 'linux') {
      // The thread re-executed at the lowest priority; the coordinator's own thread kept its own.
      assert.deepEqual(states[0].priority, { nice: 19 });
      const nices = threadNices();
      assert.equal(nices.get(process.pid), mainNice, "the coordinator's main thread keeps its niceness");
      const lowered = [...nices.values()].filter((n) => n === 19).length;
      assert.ok(lowered > (mainNice === 19 ? 1 : 0), `threads at niceness 19: ${lowered} (main thread ${mainNice})`);
    }
  } finally {
    await thread.stop();
  }
});
