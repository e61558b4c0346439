// Spot-check verification: the check itself (honest passes, each cheat fails by name), the
// sampling policy, and the ledger path — sampled credit held out of epochs until checked,
// verified/rejected states, reputation — on an in-memory PGlite ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zeroHash, type Address, type Hex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../shared/config.ts';
import { encodeUpdate, hashFrame } from '../../shared/codec.ts';
import { initParams, mlpSpec, hashParams } from '../../shared/model.ts';
import { trainLocalCpu, type Dataset } from '../../shared/mlp.ts';
import { assignmentIndices, assignmentSeed } from '../../shared/assignment.ts';
import { createRng } from '../../shared/rng.ts';
import type { Contribution } from '../../shared/eip712.ts';
import { isIdlegradError } from '../../shared/errors.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import { checkContribution, EvidenceDesk, FAIL_PENALTY, samplingRate, Validator, verificationOf } from './index.ts';
import { decodeEvidence, encodeEvidence, residualCommitment, type Evidence } from '../../shared/wire/index.ts';

function dataset(count: number, seed: number): Dataset {
  const rand = createRng(seed);
  const images = Uint8Array.from({ length: count * 784 }, () => Math.floor(rand() * 256));
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images, labels, count, features: 784, classes: 10 };
}
const train = dataset(256, 1);
const heldOut = dataset(64, 2);
const run: RunSpec = runSpecOf(
  1,
  { ...DEFAULT_RUN, sizes: [784, 16, 10], inner: { ...DEFAULT_RUN.inner, steps: 4, batchSize: 8 }, verification: { heldOutSamples: 32 } },
  {
    name: 'mnist',
    trainCount: train.count,
    testCount: heldOut.count,
    features: 784,
    classes: 10,
  },
);
const v = verificationOf(run);
const spec = mlpSpec(run.sizes);
const theta0 = initParams(spec, run.seed);
const addr = (i: number) => privateKeyToAddress(`0x${(0x100 + i).toString(16).padStart(64, '0')}`).toLowerCase() as Address;

/** A member's round: train `steps` from `start`, compress Δ + e with error feedback. */
function work(account: Address, round: number, start: Float32Array, e: Float32Array, steps = run.inner.steps, claimed = steps) {
  const B = run.inner.batchSize;
  const idx = assignmentIndices(assignmentSeed(run.seed, round, account), steps, B, run.dataset.trainCount);
  const local = trainLocalCpu(
    spec,
    start,
    train,
    Array.from({ length: steps }, (_, s) => idx.subarray(s * B, (s + 1) * B)),
    run.inner.adamw,
  ).params;
  const vec = start.map((x, i) => x - local[i] + e[i]);
  const { bytes, residual } = encodeUpdate(vec, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round, samples: claimed * B });
  const evidence: Evidence = { frame: bytes, residualBefore: e, residualAfter: residual };
  return {
    evidence,
    claim: { account, round, frameHash: hashFrame(bytes), residualHash: residualCommitment(e, residual), samples: claimed * B, steps: claimed },
  };
}
const check = (w: ReturnType<typeof work>, account = w.claim.account) => checkContribution(run, v, theta0, train, heldOut, { ...w.claim, account }, w.evidence);
const zeros = () => new Float32Array(run.paramCount);

test('an honest update passes, with an error-feedback residual carried from earlier rounds', () => {
  const e = zeros().map((_, i) => (i % 97 === 0 ? 1e-3 : 0));
  const r = check(work(addr(1), 0, theta0, e));
  assert.equal(r.passed, true, JSON.stringify(r));
  assert.ok(r.detail.relDelta! < 1e-6 && r.detail.relFrame! < 1e-6, JSON.stringify(r.detail));
  assert.equal(typeof r.detail.lossGain, 'number');
});

test('every cheat fails by name: lazy, random, fewer samples, stale, copycat, tampered evidence', () => {
  const reason = (r: ReturnType<typeof check>) => (r.passed ? 'passed' : r.rejection.code);
  // lazy: an all-zero update.
  const lazy = encodeUpdate(zeros(), run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples: 32 }).bytes;
  assert.equal(
    reason(
      checkContribution(
        run,
        v,
        theta0,
        train,
        heldOut,
        { account: addr(2), round: 0, frameHash: hashFrame(lazy), residualHash: residualCommitment(zeros(), zeros()), samples: 32, steps: 4 },
        { frame: lazy, residualBefore: zeros(), residualAfter: zeros() },
      ),
    ),
    'WORK_MISMATCH',
  );
  // random: noise through the codec with consistent residuals.
  const rand = createRng(9);
  const noise = zeros().map(() => (rand() - 0.5) * 1e-2);
  const enc = encodeUpdate(noise, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 0, samples: 32 });
  assert.equal(
    reason(
      checkContribution(
        run,
        v,
        theta0,
        train,
        heldOut,
        { account: addr(3), round: 0, frameHash: hashFrame(enc.bytes), residualHash: residualCommitment(zeros(), enc.residual), samples: 32, steps: 4 },
        { frame: enc.bytes, residualBefore: zeros(), residualAfter: enc.residual },
      ),
    ),
    'WORK_MISMATCH',
  );
  // fewer samples: 2 steps trained, 4 claimed.
  assert.equal(reason(check(work(addr(4), 0, theta0, zeros(), 2, 4))), 'WORK_MISMATCH');
  // stale: trained from another model than θ_r.
  const old = theta0.map((x, i) => x + (i % 3 === 0 ? 0.05 : -0.05));
  assert.equal(reason(check(work(addr(5), 0, old, zeros()))), 'WORK_MISMATCH');
  // copycat: another member's frame and residuals, byte for byte.
  assert.equal(reason(check(work(addr(6), 0, theta0, zeros()), addr(7))), 'WORK_MISMATCH');
  // a claim the frame does not carry, and evidence that does not match the commitments.
  const w = work(addr(8), 0, theta0, zeros());
  assert.equal(reason(checkContribution(run, v, theta0, train, heldOut, { ...w.claim, samples: w.claim.samples + 1 }, w.evidence)), 'CLAIM_MISMATCH');
  assert.equal(
    reason(checkContribution(run, v, theta0, train, heldOut, { ...w.claim, residualHash: `0x${'11'.repeat(32)}` }, w.evidence)),
    'EVIDENCE_MISMATCH',
  );
  assert.equal(reason(checkContribution(run, v, theta0, train, heldOut, { ...w.claim, frameHash: `0x${'22'.repeat(32)}` }, w.evidence)), 'EVIDENCE_MISMATCH');
});

test('sampling: new identities at newIdentityRate, trusted ones at rate, failed ones always', () => {
  assert.equal(samplingRate({ checksPassed: 0, reputation: 0 }, v), v.newIdentityRate);
  assert.equal(samplingRate({ checksPassed: v.trustAfter, reputation: v.trustAfter }, v), v.rate);
  assert.equal(samplingRate({ checksPassed: 50, reputation: 50 - FAIL_PENALTY * 6 }, v), 1);
  assert.ok(v.rate < v.newIdentityRate);
  assert.throws(() => verificationOf({ verification: { rate: 2 } }), /run\.verification\.rate/);
});

test('evidence round-trips and the desk refuses uploads that do not match the commitments', async () => {
  const w = work(addr(9), 3, theta0, zeros());
  const back = decodeEvidence(encodeEvidence(w.evidence), run.paramCount);
  assert.deepEqual(back.frame, w.evidence.frame);
  assert.deepEqual(back.residualAfter, w.evidence.residualAfter);
  const desk = new EvidenceDesk(run.paramCount, 5_000);
  const c = {
    id: 1,
    round: 3,
    cohort: 0,
    account: addr(9),
    frameHash: w.claim.frameHash,
    residualHash: w.claim.residualHash,
    samples: 32,
    steps: 4,
    state: 'accepted' as const,
    verification: 'sampled' as const,
    device: null,
  };
  let asked = 0;
  const got = desk.source(() => (asked++, true))(c);
  assert.throws(
    () => desk.submit(3, addr(10), encodeEvidence(w.evidence)),
    (e) => isIdlegradError(e, 'NOT_FOUND'),
  );
  assert.throws(
    () => desk.submit(3, addr(9), encodeEvidence({ ...w.evidence, residualAfter: zeros() })),
    (e) => isIdlegradError(e, 'BAD_FRAME'),
  );
  desk.submit(3, addr(9), encodeEvidence(w.evidence));
  assert.equal(asked, 1);
  assert.ok(await got);
  // A member that is not connected is asked again until the deadline, then: no evidence.
  let tries = 0;
  assert.equal(await new EvidenceDesk(run.paramCount, 1_500).source(() => (tries++, false))(c), null);
  assert.equal(tries, 2);
});

test('ledger: sampled credit waits for its check; passed → verified, failed → rejected with reason and reputation lost', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  const honest = work(addr(11), 0, theta0, zeros());
  const cheat = work(addr(12), 0, theta0, zeros(), 2, 4);
  const legacy = addr(13);
  const contribution = (w: { claim: { frameHash: Hex; round: number; samples: number; steps: number } }, n: bigint): Contribution => ({
    run: run.id,
    round: 0,
    cohort: 0,
    frameHash: w.claim.frameHash,
    aggregateHash: w.claim.frameHash,
    framesRoot: w.claim.frameHash,
    residualHash: zeroHash,
    samples: w.claim.samples,
    steps: w.claim.steps,
    lossBeforeMicro: 1,
    lossAfterMicro: 1,
    computeMs: 1,
    nonce: n,
    expiry: 9_999_999_999n,
    partner: '',
  });
  const ids = [
    await ledger.insertPending(run.id, addr(11), contribution(honest, 1n), '0x', { residualHash: honest.claim.residualHash }),
    await ledger.insertPending(run.id, addr(12), contribution(cheat, 2n), '0x', { residualHash: cheat.claim.residualHash }),
    await ledger.insertPending(run.id, legacy, contribution(honest, 3n), '0x'),
  ];
  await sql.query(`update contributions set state = 'accepted', credit_wei = 1000 where id = any($1::bigint[])`, [ids]);
  assert.deepEqual(await ledger.cumulativeCredit(), [], 'accepted work with no sampling decision yet is in no epoch');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const asked: number[] = [];
  const validator = new Validator({
    run,
    ledger,
    train,
    heldOut,
    random: () => 0,
    evidence: async (c) => {
      asked.push(c.id);
      await gate;
      return c.account === addr(11) ? honest.evidence : c.account === addr(12) ? cheat.evidence : null;
    },
  });
  const sampled = await validator.afterCommit(0, theta0, ids);
  assert.deepEqual(sampled, ids.slice(0, 2), 'reports without a residual commitment are not sampled');
  // While the checks wait, only the unverifiable (legacy) contribution's credit may enter an epoch.
  assert.deepEqual(
    (await ledger.cumulativeCredit()).map((c) => c.account),
    [legacy],
  );
  // Both members are asked for evidence when the round is sampled, not when each check reaches
  // the head of the queue (a page keeps only a few rounds of it).
  assert.deepEqual(asked, ids.slice(0, 2));
  // A bounded wait (the reward epoch's) returns with the checks still queued.
  await validator.idle(20);
  assert.equal(validator.backlog, 2);
  release();
  await validator.idle();
  assert.equal(validator.backlog, 0);
  const status = validator.status();
  assert.ok(status.executor === 'dawn' || status.executor === 'cpu', JSON.stringify(status));
  assert.equal(status.checks, 2);
  assert.equal(status.peakBacklog, 2);
  const rows = (
    await sql.query<{ account: string; state: string; verification: string; code: string | null; reason: string | null }>(
      `select account, state, verification, reason_code as code, reason from contributions order by id`,
    )
  ).rows;
  assert.deepEqual(
    rows.map((r) => [r.state, r.verification]),
    [
      ['verified', 'passed'],
      ['rejected', 'failed'],
      ['accepted', 'unverifiable'],
    ],
  );
  assert.equal(rows[1].code, 'WORK_MISMATCH');
  assert.match(rows[1].reason ?? '', /^the update differs from re-executing/);
  assert.deepEqual((await ledger.cumulativeCredit()).map((c) => c.account).sort(), [addr(11), legacy].sort(), 'rejected credit never reaches an epoch');
  assert.deepEqual(
    (await ledger.epochCredit()).ids.sort((x, y) => x - y),
    [ids[0], ids[2]],
    'the next epoch batches exactly the rows its leaves cover',
  );
  assert.equal((await ledger.identity(addr(12))).reputation, -FAIL_PENALTY);
  assert.equal((await ledger.identity(addr(11))).checksPassed, 1);
  assert.equal(samplingRate(await ledger.identity(addr(12)), v), 1);
  // θ_r is rebuilt from the ledger after a restart (round 0: the initial parameters).
  assert.equal(hashParams(await validator.modelAt(0)), hashParams(theta0));
  // An evidence source that never answers: the check fails as withheld.
  const w = work(addr(14), 0, theta0, zeros());
  const id = await ledger.insertPending(run.id, addr(14), contribution(w, 4n), '0x', { residualHash: w.claim.residualHash });
  await sql.query(`update contributions set state = 'accepted', credit_wei = 1000 where id = $1`, [id]);
  const v2 = new Validator({ run, ledger, train, heldOut, random: () => 0, evidence: async () => null });
  await v2.afterCommit(0, theta0, [id]);
  await v2.idle();
  const last = (await sql.query<{ state: string; code: string }>(`select state, reason_code as code from contributions where id = $1`, [id])).rows[0];
  assert.equal(last.state, 'rejected');
  assert.equal(last.code, 'EVIDENCE_WITHHELD');
  await sql.close();
});
