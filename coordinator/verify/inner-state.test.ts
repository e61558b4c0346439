// The inner AdamW state kept across rounds (run setting inner.state 'kept', protocol 7): a member's
// second round passes a spot check re-executed from its uploaded state before, with Dawn and with
// the CPU reference; a member whose state before breaks the chain from its last checked round is
// rejected naming it; a malformed state is refused by name; a page that reloaded (t = 0) passes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { zeroHash, type Address } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { DEFAULT_RUN, runSpecOf, validateRunSettings, type RunSpec } from '../../shared/config.ts';
import { encodeUpdate, hashFrame } from '../../shared/codec.ts';
import { initParams, mlpSpec, hashParams } from '../../shared/model.ts';
import { trainLocalCpu, type AdamWState } from '../../shared/mlp.ts';
import { assignmentIndices, assignmentSeed } from '../../shared/assignment.ts';
import { pseudoGradient } from '../../shared/round.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import { useSwiftShaderWhenNoDriver } from '../../kernels/swiftshader.ts';
import { Validator, verificationOf, type CheckResult } from './index.ts';
import { innerStateCheck, openEvidence } from './checks.ts';
import { createReexecutor, type Reexecutor } from './reexec.ts';
import { contributionFor, mnistLike } from './reexec-fixture.ts';
import {
  innerStateDigest,
  momentsDigest,
  residualCommitment,
  stateDigests,
  uploadFor,
  zeroInnerState,
  type Evidence,
  type InnerStateEvidence,
} from '../../shared/wire/index.ts';

useSwiftShaderWhenNoDriver();
const train = mnistLike(256, 1);
const heldOut = mnistLike(64, 2);
const run: RunSpec = runSpecOf(
  1,
  { ...DEFAULT_RUN, sizes: [784, 16, 10], inner: { ...DEFAULT_RUN.inner, steps: 4, batchSize: 8, state: 'kept' }, verification: { heldOutSamples: 32 } },
  { name: 'mnist', trainCount: train.count, testCount: heldOut.count, features: 784, classes: 10 },
);
const v = verificationOf(run);
const spec = mlpSpec(run.sizes);
const theta0 = initParams(spec, run.seed);
const addr = (i: number) => privateKeyToAddress(`0x${(0x300 + i).toString(16).padStart(64, '0')}`).toLowerCase() as Address;
const copy = (s: AdamWState): AdamWState => ({ m: s.m.slice(), v: s.v.slice(), t: s.t });
const reason = (r: CheckResult) => (r.passed ? 'passed' : r.rejection.code);
const open: Reexecutor[] = [];
after(() => Promise.all(open.map((r) => r.destroy())));

/**
 * A member's round as a page with a kept state does it: `steps` steps from θ and the state before
 * (`trainedFrom`: the state it really trained from, when a test makes it differ from the one it commits to).
 */
function work(account: Address, round: number, e: Float32Array, state: AdamWState, o: { trainedFrom?: AdamWState } = {}) {
  const steps = run.inner.steps;
  const B = run.inner.batchSize;
  const idx = assignmentIndices(assignmentSeed(run.seed, round, account), steps, B, run.dataset.trainCount);
  const st = copy(o.trainedFrom ?? state);
  const local = trainLocalCpu(
    spec,
    theta0,
    train,
    Array.from({ length: steps }, (_, s) => idx.subarray(s * B, (s + 1) * B)),
    run.inner.adamw,
    st,
  ).params;
  const samples = steps * B;
  const { bytes, residual } = encodeUpdate(pseudoGradient(theta0, local, e), run.codec, { paramTableHash: run.paramTableHash, run: run.id, round, samples });
  const inner: InnerStateEvidence = { before: state, after: { t: state.t + steps, moments: momentsDigest(st) } };
  const evidence: Evidence = { frame: bytes, residualBefore: e, residualAfter: residual, state: inner };
  return {
    evidence,
    stateAfter: st,
    claim: { account, round, frameHash: hashFrame(bytes), residualHash: residualCommitment(e, residual, stateDigests(inner)), samples, steps },
  };
}

test('run setting inner.state: "round" or "kept", "kept" refused for a GPT preset, named by its keypath', () => {
  assert.equal(DEFAULT_RUN.inner.state, 'round', 'kept is not the default until a forged state-before is caught (shared/config.ts)');
  assert.throws(
    () => validateRunSettings({ ...DEFAULT_RUN, inner: { ...DEFAULT_RUN.inner, state: 'always' as 'kept' } }),
    /run\.inner\.state: expected one of round, kept, got "always"/,
  );
  assert.throws(
    () => validateRunSettings({ ...DEFAULT_RUN, preset: 'gpt-micro', inner: { ...DEFAULT_RUN.inner, state: 'kept' } }),
    /run\.inner\.state: expected "round" for a GPT preset/,
  );
  validateRunSettings({ ...DEFAULT_RUN, inner: { ...DEFAULT_RUN.inner, state: undefined } });
});

test('the inner state check names each malformed state, a step count that does not add up, and a broken chain', () => {
  const P = run.paramCount;
  const w = work(addr(1), 0, new Float32Array(P), zeroInnerState(P));
  const s = w.evidence.state!;
  const claim = { round: 5, steps: run.inner.steps };
  const code = (r: CheckResult | null) => (r === null ? 'passed' : reason(r));
  const prose = (r: CheckResult | null) => (r && !r.passed ? r.rejection.prose : '');
  assert.equal(innerStateCheck(run, claim, s), null);
  const at = (t: number, patch: (st: AdamWState) => void = () => {}): InnerStateEvidence => {
    const b = { m: Float32Array.from({ length: P }, (_, i) => Math.sin(i) * 1e-3), v: new Float32Array(P).fill(1e-6), t };
    patch(b);
    return { before: b, after: { t: t + run.inner.steps, moments: s.after.moments } };
  };
  const wrongLength = { ...at(8), before: { ...at(8).before, v: new Float32Array(P - 1) } };
  assert.match(prose(innerStateCheck(run, claim, wrongLength)), /holds \d+ and \d+ moments; the model has/);
  assert.match(
    prose(
      innerStateCheck(
        run,
        claim,
        at(8, (b) => (b.m[3] = NaN)),
      ),
    ),
    /NaN or Inf \(parameter 3\)/,
  );
  assert.match(
    prose(
      innerStateCheck(
        run,
        claim,
        at(8, (b) => (b.v[7] = Infinity)),
      ),
    ),
    /NaN or Inf \(parameter 7\)/,
  );
  assert.match(
    prose(
      innerStateCheck(
        run,
        claim,
        at(8, (b) => (b.v[9] = -1e-9)),
      ),
    ),
    /second moment is negative at parameter 9/,
  );
  assert.match(prose(innerStateCheck(run, claim, at(0))), /no step \(t = 0\) but holds a non-zero moment/);
  assert.equal(
    code(
      innerStateCheck(
        run,
        claim,
        at(8, (b) => (b.m[0] = NaN)),
      ),
    ),
    'BAD_FRAME',
  );
  assert.match(prose(innerStateCheck(run, claim, at(8.5))), /step count 8.5 is not an integer/);
  const late = { ...at(8), after: { ...at(8).after, t: 8 + run.inner.steps + 1 } };
  assert.equal(code(innerStateCheck(run, claim, late)), 'CLAIM_MISMATCH');
  assert.match(prose(innerStateCheck(run, claim, late)), /4 steps from step 8 end at 12/);
  // The chain: the state after round 4 (checked) was at step 8.
  const st8 = at(8);
  const known = { round: 4, t: 8, digest: innerStateDigest(st8.before) };
  assert.equal(innerStateCheck(run, claim, st8, known), null, 'the known state goes on');
  const forged = at(8, (b) => b.v.fill(1e6));
  assert.equal(code(innerStateCheck(run, claim, forged, known)), 'EVIDENCE_MISMATCH');
  assert.match(prose(innerStateCheck(run, claim, forged, known)), /not the state after this identity's round 4 \(checked\): same step 8, other moments/);
  assert.match(prose(innerStateCheck(run, claim, at(12), known)), /starts from step 8 \(or 0 after a reload\)/);
  assert.match(prose(innerStateCheck(run, claim, at(4), known)), /is at step 4; .* it was at step 8/);
  // Two rounds later: one round it did not see may have moved the state by up to a round's steps.
  assert.equal(innerStateCheck(run, { ...claim, round: 6 }, at(12), known), null);
  assert.match(prose(innerStateCheck(run, { ...claim, round: 6 }, at(13), known)), /starts from step 8–12/);
  assert.equal(innerStateCheck(run, claim, w.evidence.state!, known), null, 'a page that reloaded starts from zeros');
});

test('opening evidence: a kept run needs the state, a round run refuses one, and the commitment covers it', () => {
  const P = run.paramCount;
  const w = work(addr(2), 0, new Float32Array(P), zeroInnerState(P));
  const opened = openEvidence(run, w.claim, w.evidence);
  assert.ok(!('passed' in opened), 'honest evidence opens');
  const without = openEvidence(run, w.claim, { ...w.evidence, state: undefined });
  assert.ok('passed' in without && reason(without) === 'BAD_FRAME' && /carries none/.test(without.passed ? '' : without.rejection.prose));
  const other = { ...w.evidence.state!, after: { ...w.evidence.state!.after, moments: zeroHash } };
  const mismatch = openEvidence(run, w.claim, { ...w.evidence, state: other });
  assert.ok(
    'passed' in mismatch && reason(mismatch) === 'EVIDENCE_MISMATCH' && /residuals and inner state/.test(mismatch.passed ? '' : mismatch.rejection.prose),
  );
  const roundRun = { ...run, inner: { ...run.inner, state: 'round' as const } };
  const refused = openEvidence(roundRun, w.claim, w.evidence);
  assert.ok('passed' in refused && reason(refused) === 'BAD_FRAME');
});

test(
  'a second round trained from the kept state passes re-executed from the uploaded state, with Dawn and with the CPU reference; trained from zero moments it fails',
  { timeout: 300_000 },
  async () => {
    const P = run.paramCount;
    const member = addr(3);
    const r0 = work(member, 0, new Float32Array(P), zeroInnerState(P));
    const r1 = work(member, 1, r0.evidence.residualAfter, r0.stateAfter);
    assert.equal(r1.evidence.state!.before.t, run.inner.steps);
    // Trained round 1 from zero moments but committed to the kept state: the work differs.
    const restarted = work(member, 1, r0.evidence.residualAfter, r0.stateAfter, { trainedFrom: zeroInnerState(P) });
    for (const gpu of [true, false]) {
      const rx = await createReexecutor(run, v, train, heldOut, { gpu });
      open.push(rx);
      const want = gpu ? 'dawn' : 'cpu';
      assert.equal(rx.executor, want, `${rx.fallback}`);
      const check = async (w: ReturnType<typeof work>) => {
        const o = await rx.check(theta0, { ...w.claim, device: 'cpu' === want ? 'cpu' : 'webgpu' }, { ...w.evidence });
        assert.ok('result' in o);
        return o.result;
      };
      const honest = await check(r1);
      assert.equal(reason(honest), 'passed', JSON.stringify(honest.detail));
      assert.equal(honest.detail.executor, want);
      assert.ok(honest.detail.relDelta! < (gpu ? v.tolerance / 10 : 1e-6), `relDelta ${honest.detail.relDelta}`);
      const lazy = await check(restarted);
      assert.equal(reason(lazy), 'WORK_MISMATCH', `${want}: ${JSON.stringify(lazy.detail)}`);
      console.log(
        `  [inner state] ${want}: kept-state round 1 relDelta ${honest.detail.relDelta!.toExponential(2)}; from zero moments ${lazy.detail.relDelta!.toExponential(2)}`,
      );
    }
  },
);

test('the validator chains the state: honest rounds pass, a forged state before is rejected naming the chain, a reload (t = 0) passes', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const P = run.paramCount;
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: new Float32Array(P) });
  const member = addr(4);
  const held = new Map<number, Evidence>();
  let nonce = 1n;
  const submit = async (round: number, w: ReturnType<typeof work>) => {
    const id = await ledger.insertPending(run.id, member, contributionFor(run, w.claim, nonce++, round), '0x', {
      residualHash: w.claim.residualHash,
      device: 'cpu',
    });
    await sql.query(`update contributions set state = 'accepted', credit_wei = 1000 where id = $1`, [id]);
    held.set(id, w.evidence);
    return id;
  };
  const validator = new Validator({
    run,
    ledger,
    train,
    heldOut,
    random: () => 0,
    gpu: false,
    evidence: async (c, needs) => uploadFor(held.get(c.id)!, needs),
  });
  const verdicts = async () =>
    (await sql.query<{ round: number; code: string | null; reason: string | null }>(`select round, reason_code as code, reason from contributions order by id`))
      .rows;
  let e: Float32Array = new Float32Array(P);
  let state = zeroInnerState(P);
  for (let round = 0; round < 3; round++) {
    const w = work(member, round, e, state);
    await validator.afterCommit(round, theta0, [await submit(round, w)]);
    await validator.idle();
    e = w.evidence.residualAfter;
    state = w.stateAfter;
  }
  assert.deepEqual(
    (await verdicts()).map((r) => r.code),
    [null, null, null],
    'three kept-state rounds pass',
  );
  // A lazy member forges its state before (a v so large that its round moves θ by weight decay
  // alone), trains honestly from it, and commits to it: the chain from round 2 (checked) breaks.
  const forged = { m: new Float32Array(P), v: new Float32Array(P).fill(1e12), t: state.t };
  const w3 = work(member, 3, e, forged);
  await validator.afterCommit(3, theta0, [await submit(3, w3)]);
  await validator.idle();
  const v3 = (await verdicts()).at(-1)!;
  assert.equal(v3.code, 'EVIDENCE_MISMATCH');
  assert.match(v3.reason!, /inner state before is not the state after this identity's round 2 \(checked\)/);
  // The page reloaded: zeros at t = 0, its residual from storage.
  const w4 = work(member, 4, e, zeroInnerState(P));
  await validator.afterCommit(4, theta0, [await submit(4, w4)]);
  await validator.idle();
  assert.equal((await verdicts()).at(-1)!.code, null, 'a reloaded page starts over from zeros');
  await sql.close();
});
