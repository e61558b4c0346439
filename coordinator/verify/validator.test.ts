// Spot-check verification: the check itself (honest passes, each cheat fails by name), the
// sampling policy, and the ledger path — sampled credit held out of epochs until checked,
// verified/rejected states, reputation — on an in-memory PGlite ledger.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Address, type Hex } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../shared/config.ts';
import { encodeUpdate, hashFrame } from '../../shared/codec.ts';
import { initParams, mlpSpec, hashParams } from '../../shared/model.ts';
import { trainLocalCpu } from '../../shared/mlp.ts';
import { assignmentIndices, assignmentSeed } from '../../shared/assignment.ts';
import { createRng } from '../../shared/rng.ts';
import { pseudoGradient } from '../../shared/round.ts';
import type { Contribution } from '../../shared/eip712.ts';
import { isIdlegradError } from '../../shared/errors.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import { UploadThread } from '../round/index.ts';
import { checkContribution, EvidenceDesk, evidenceWindowMs, FAIL_PENALTY, samplingRate, Validator, verificationOf } from './index.ts';
import {
  decodeEvidence,
  encodeEvidence,
  residualCommitment,
  residualDigest,
  uploadFor,
  RESIDUAL_LEAF,
  type Evidence,
  type EvidenceNeeds,
} from '../../shared/wire/index.ts';
import type { CheckResult } from './index.ts';
import { openEvidence } from './checks.ts';
import { contributionFor, mnistLike } from './reexec-fixture.ts';

const train = mnistLike(256, 1);
const heldOut = mnistLike(64, 2);
const run: RunSpec = runSpecOf(
  1,
  { ...DEFAULT_RUN, sizes: [784, 16, 10], inner: { ...DEFAULT_RUN.inner, state: 'round', steps: 4, batchSize: 8 }, verification: { heldOutSamples: 32 } },
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

/**
 * A member's round: train `steps` from `start`, compress Δ + e with error feedback. `drift`: the
 * page's Δ off the CPU reference by that relative amount (a WebGPU page's float drift); `flip`:
 * the frame sign-flipped and e_a chosen so that decode(F) + e_a − e_b is still the page's Δ.
 */
function work(
  account: Address,
  round: number,
  start: Float32Array,
  e: Float32Array,
  steps = run.inner.steps,
  claimed = steps,
  o: { drift?: number; flip?: boolean; noise?: { size: number; upTo: number } } = {},
) {
  const B = run.inner.batchSize;
  const idx = assignmentIndices(assignmentSeed(run.seed, round, account), steps, B, run.dataset.trainCount);
  const local = trainLocalCpu(
    spec,
    start,
    train,
    Array.from({ length: steps }, (_, s) => idx.subarray(s * B, (s + 1) * B)),
    run.inner.adamw,
  ).params;
  // The page's float32 arithmetic (shared/round.ts): v = fround(θ − θ_local) + e.
  const vec = pseudoGradient(start, local, e);
  if (o.drift) for (let i = 0; i < vec.length; i++) vec[i] += o.drift * ((i % 13) / 6 - 1) * (vec[i] - e[i]);
  if (o.noise) {
    // A difference of noise.size × Δ's RMS (±) on the values before noise.upTo.
    let sq = 0;
    for (let i = 0; i < vec.length; i++) sq += (vec[i] - e[i]) ** 2;
    const size = o.noise.size * Math.sqrt(sq / vec.length);
    for (let i = 0; i < o.noise.upTo; i++) vec[i] += size * ((i * 7919) % 2 ? 1 : -1);
  }
  const header = { paramTableHash: run.paramTableHash, run: run.id, round, samples: claimed * B };
  let { bytes, residual } = encodeUpdate(vec, run.codec, header);
  if (o.flip) {
    // F' = C(−v), decode(F') = −v − e'; e_a = v − decode(F') = 2v + e'.
    const flipped = encodeUpdate(
      vec.map((x) => -x),
      run.codec,
      header,
    );
    bytes = flipped.bytes;
    residual = vec.map((x, i) => 2 * x + flipped.residual[i]);
  }
  const evidence: Evidence = { frame: bytes, residualBefore: e, residualAfter: residual };
  return {
    evidence,
    claim: { account, round, frameHash: hashFrame(bytes), residualHash: residualCommitment(e, residual), samples: claimed * B, steps: claimed },
  };
}
const check = (w: ReturnType<typeof work>, account = w.claim.account) => checkContribution(run, v, theta0, train, heldOut, { ...w.claim, account }, w.evidence);
const zeros = () => new Float32Array(run.paramCount);

/**
 * Records each of `member`'s rounds as an accepted WebGPU contribution (nonces from `firstNonce`)
 * and keeps its evidence in `held` for the validator's evidence source.
 */
function acceptedWebgpu(sql: Awaited<ReturnType<typeof openDatabase>>, ledger: Ledger, member: Address, held: Map<number, Evidence>, firstNonce: bigint) {
  let nonce = firstNonce;
  return async (round: number, w: ReturnType<typeof work>) => {
    const id = await ledger.insertPending(run.id, member, contribution(w, nonce++, round), '0x', { residualHash: w.claim.residualHash, device: 'webgpu' });
    await sql.query(`update contributions set state = 'accepted', credit_wei = 1000 where id = $1`, [id]);
    held.set(id, w.evidence);
    return id;
  };
}

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

const FULL: EvidenceNeeds = { before: true, after: true, leaves: [] };
/** What a validator whose coin always says 0 asks at sampling: both residuals opened at leaves 0–7. */
const OPENED: EvidenceNeeds = { before: false, after: false, leaves: [0, 1, 2, 3, 4, 5, 6, 7] };
const LIGHT: EvidenceNeeds = { before: false, after: false, leaves: [] };
/** The leaves of the MLP's first codec chunk (4,096 values): what a coin of 0 opens when the chain broke. */
const CHUNK_0 = Array.from({ length: run.codec.chunkSize / RESIDUAL_LEAF }, (_, i) => i);

test('evidence round-trips and the desk refuses uploads that do not match the commitments or what was asked', async () => {
  const w = work(addr(9), 3, theta0, zeros());
  const back = decodeEvidence(encodeEvidence(uploadFor(w.evidence, FULL)), run.paramCount);
  assert.deepEqual(back.frame, w.evidence.frame);
  assert.deepEqual(back.after, w.evidence.residualAfter);
  const light = decodeEvidence(encodeEvidence(uploadFor(w.evidence, { before: false, after: true, leaves: [] })), run.paramCount);
  assert.equal(light.before, residualDigest(w.evidence.residualBefore));
  assert.deepEqual(light.after, w.evidence.residualAfter);
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
  const got = desk.source(() => (asked++, true))(c, { before: false, after: true, leaves: [] });
  await assert.rejects(
    () => desk.submit(3, addr(10), encodeEvidence(uploadFor(w.evidence, FULL))),
    (e) => isIdlegradError(e, 'NOT_FOUND'),
  );
  await assert.rejects(
    () => desk.submit(3, addr(9), encodeEvidence(uploadFor({ ...w.evidence, residualAfter: zeros().fill(1e-3) }, FULL))),
    (e) => isIdlegradError(e, 'BAD_FRAME'),
  );
  // A digest that does not belong to the committed residual, and an upload without the residual asked for.
  await assert.rejects(
    () =>
      desk.submit(
        3,
        addr(9),
        encodeEvidence({ ...uploadFor(w.evidence, { before: false, after: true, leaves: [] }), before: residualDigest(zeros().fill(1)) }),
      ),
    (e) => isIdlegradError(e, 'BAD_FRAME') && /residualHash/.test(e.message),
  );
  await assert.rejects(
    () => desk.submit(3, addr(9), encodeEvidence(uploadFor(w.evidence, LIGHT))),
    (e) => isIdlegradError(e, 'BAD_FRAME') && /residual after in full/.test(e.message),
  );
  await desk.submit(3, addr(9), encodeEvidence(uploadFor(w.evidence, { before: false, after: true, leaves: [] })));
  assert.equal(asked, 1);
  assert.ok(await got);
  // A member that is not connected is asked again until the deadline, then: no evidence.
  let tries = 0;
  assert.equal(await new EvidenceDesk(run.paramCount, 1_500).source(() => (tries++, false))(c, LIGHT), null);
  assert.equal(tries, 2);
  // An upload after the window closed is refused, saying how late it came.
  const lines: string[] = [];
  const shortDesk = new EvidenceDesk(run.paramCount, 30, Date.now, (line) => lines.push(line));
  assert.equal(await shortDesk.source(() => true)(c, LIGHT), null);
  await assert.rejects(
    () => shortDesk.submit(3, addr(9), encodeEvidence(uploadFor(w.evidence, LIGHT))),
    (e) => isIdlegradError(e, 'NOT_FOUND') && /closed unanswered \d+ ms before this upload/.test(e.message),
  );
  assert.match(lines.join('\n'), /no upload from .* within \d+ ms/);
});

test('the desk hashes uploads on the upload thread, and refuses one whose request closed while it was hashed', async () => {
  const w = work(addr(9), 3, theta0, zeros());
  const c = {
    ...{ id: 1, round: 3, cohort: 0, account: addr(9), samples: 32, steps: 4, device: null },
    ...{ frameHash: w.claim.frameHash, residualHash: w.claim.residualHash, state: 'accepted' as const, verification: 'sampled' as const },
  };
  const thread = new UploadThread(run);
  try {
    const hashed: number[] = [];
    const desk = new EvidenceDesk(
      run.paramCount,
      5_000,
      Date.now,
      () => {},
      (body) => (hashed.push(body.byteLength), thread.evidenceDigests(body)),
    );
    const got = desk.source(() => true)(c, FULL);
    // The thread's refusals keep their code and say what was wrong.
    await assert.rejects(
      () => desk.submit(3, addr(9), new Uint8Array([1, 2, 3])),
      (e) => isIdlegradError(e, 'BAD_FRAME') && /shorter than its e_b in full/.test(e.message),
    );
    await assert.rejects(
      () => desk.submit(3, addr(9), encodeEvidence(uploadFor({ ...w.evidence, residualBefore: zeros().fill(2) }, FULL))),
      (e) => isIdlegradError(e, 'BAD_FRAME') && /residualHash/.test(e.message),
    );
    const body = encodeEvidence(uploadFor(w.evidence, FULL));
    await desk.submit(3, addr(9), body);
    const e = await got;
    assert.ok(e && e.before instanceof Float32Array && e.after instanceof Float32Array);
    assert.deepEqual(hashed, [3, body.byteLength, body.byteLength]);
    const roots = { beforeDigest: residualDigest(w.evidence.residualBefore), afterDigest: residualDigest(w.evidence.residualAfter) };
    assert.deepEqual(await thread.evidenceDigests(body), {
      frameHash: w.claim.frameHash.toLowerCase(),
      residualHash: w.claim.residualHash!.toLowerCase(),
      ...roots,
    });
    // The roots the desk checked travel with the upload, so the check does not Merkle-hash the residuals again.
    assert.equal(e.beforeDigest, roots.beforeDigest);
    assert.equal(e.afterDigest, roots.afterDigest);
    // A request answered by another upload while the first one is still being hashed is not answered twice.
    let release = () => {};
    let calls = 0;
    const slow = new EvidenceDesk(
      run.paramCount,
      5_000,
      Date.now,
      () => {},
      async (b) => {
        if (calls++ === 0) await new Promise<void>((r) => (release = r));
        return thread.evidenceDigests(b);
      },
    );
    const first = slow.source(() => true)(c, FULL);
    const pending = slow.submit(3, addr(9), body);
    await slow.submit(3, addr(9), body);
    assert.ok(await first);
    release();
    await assert.rejects(pending, (err) => isIdlegradError(err, 'NOT_FOUND') && /stopped waiting while its upload was checked/.test(err.message));
  } finally {
    thread.stop();
  }
});

test('opening evidence takes the roots the upload thread computed instead of hashing the residuals again, and still holds them to the commitment', () => {
  const w = work(addr(9), 3, theta0, zeros());
  const parts = { frame: w.evidence.frame, residualBefore: w.evidence.residualBefore, residualAfter: w.evidence.residualAfter };
  const roots = { before: residualDigest(w.evidence.residualBefore), after: residualDigest(w.evidence.residualAfter) };
  const opened = openEvidence(run, w.claim, parts, roots.before, roots.after);
  assert.ok(!('passed' in opened));
  assert.deepEqual({ before: opened.beforeDigest, after: opened.afterDigest }, roots);
  // Given roots are used as they are (these values are not hashed: they would not match) …
  const unhashed = { ...parts, residualAfter: new Float32Array(run.paramCount).fill(7) };
  assert.ok(!('passed' in openEvidence(run, w.claim, unhashed, roots.before, roots.after)));
  // … and must still make the signed commitment.
  const wrong = openEvidence(run, w.claim, parts, roots.before, roots.before);
  assert.ok('passed' in wrong && !wrong.passed && wrong.rejection.code === 'EVIDENCE_MISMATCH');
  const hashedHere = openEvidence(run, w.claim, unhashed);
  assert.ok('passed' in hashedHere && !hashedHere.passed && hashedHere.rejection.code === 'EVIDENCE_MISMATCH');
});

test('the evidence window allows one residual hashed at 2 MiB/s and the residuals asked in full at a 1 MiB/s uplink', () => {
  // The MLP: 50,890 floats, 203,560 bytes, 98 ms of hashing at the floor.
  assert.equal(evidenceWindowMs(run.paramCount, 20_000, LIGHT), 20_000 + Math.ceil((1000 * 4 * run.paramCount) / 2 ** 21));
  assert.equal(evidenceWindowMs(50_890, 20_000, LIGHT), 20_098);
  // gpt-small: 10,935,552 floats, 41.7 MiB a residual: 20.9 s to hash one at the floor (the fourth
  // swarm's page took 33 s to rebuild two at the ask; now it keeps them), so 40.9 s with leaves
  // opened, and both residuals in full (83.4 MiB) add 83.4 s of upload.
  assert.equal(evidenceWindowMs(10_935_552, 20_000, LIGHT), 40_858);
  assert.equal(evidenceWindowMs(10_935_552, 20_000, FULL), 40_858 + Math.ceil((1000 * 8 * 10_935_552) / 2 ** 20));
  assert.equal(evidenceWindowMs(10_935_552, 20_000, { before: false, after: true, leaves: [] }) - 40_858, 41_716);
});

/** A signed-report row for `w` in `round` (the ledger tests' contributions). */
const contribution = (w: { claim: { frameHash: Hex; samples: number; steps: number } }, n: bigint, round = 0): Contribution =>
  contributionFor(run, w.claim, n, round);

test('ledger: sampled credit waits for its check; passed → verified, failed → rejected with reason and reputation lost', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  const honest = work(addr(11), 0, theta0, zeros());
  const cheat = work(addr(12), 0, theta0, zeros(), 2, 4);
  const legacy = addr(13);
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
    evidence: async (c, needs) => {
      asked.push(c.id);
      await gate;
      const e = c.account === addr(11) ? honest.evidence : c.account === addr(12) ? cheat.evidence : null;
      return e && uploadFor(e, needs);
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

test('the re-execution thread starts with work, not with the validator: resume() with nothing to resume leaves it unstarted, warm() starts it', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  const validator = new Validator({ run, ledger, train, heldOut, random: () => 0, evidence: async () => null });
  try {
    assert.equal(await validator.resume(), 0);
    // A platform's shutdown (or the lead's next run) would wait out a start-up it never needed.
    assert.equal(validator.threadStarted, false, 'no check to resume: the thread did not start');
    assert.equal(validator.status().executor, null);
    const warming = validator.warm();
    assert.equal(validator.threadStarted, true);
    await warming;
    const started = validator.status();
    assert.ok(started.executor === 'dawn' || started.executor === 'cpu', JSON.stringify(started));
  } finally {
    await validator.stop();
    await sql.close();
  }
});

test('residuals the validator knows are not uploaded: chained checks cost a frame and the sampled leaves; a page that lies about e is caught', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  const member = addr(21);
  const held = new Map<number, Evidence>();
  const asks: { round: number; needs: EvidenceNeeds }[] = [];
  let nonce = 100n;
  const submit = async (round: number, w: ReturnType<typeof work>) => {
    const c = contribution(w, nonce++, round);
    // CPU-trained work: the CPU reference re-executes it bit for bit, so e_a can be derived.
    const id = await ledger.insertPending(run.id, member, c, '0x', { residualHash: w.claim.residualHash, device: 'cpu' });
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
    evidence: async (c, needs) => {
      asks.push({ round: c.round, needs });
      return uploadFor(held.get(c.id)!, needs);
    },
  });
  const verdicts = async () =>
    (
      await sql.query<{ round: number; verification: string; code: string | null }>(
        `select round, verification, reason_code as code from contributions order by id`,
      )
    ).rows;
  // Three honest rounds, the residual carried from each to the next as a page does.
  let e: Float32Array = zeros();
  for (let round = 0; round < 3; round++) {
    const w = work(member, round, theta0, e);
    await validator.afterCommit(round, theta0, [await submit(round, w)]);
    await validator.idle();
    e = w.evidence.residualAfter;
  }
  assert.deepEqual(
    (await verdicts()).map((r) => r.verification),
    ['passed', 'passed', 'passed'],
  );
  assert.deepEqual(
    asks.map((a) => a.needs),
    [OPENED, OPENED, OPENED],
    'e_b: zeros, then carried from the last check; e_a: derived from the re-execution (CPU-trained work, CPU reference)',
  );
  assert.deepEqual(validator.residuals, { known: 6, uploaded: 0, opened: 0, askedAgain: 0 });

  // Lie 1: the page says its e_b was zero (a digest that is not the one it committed).
  const w3 = work(member, 3, theta0, e);
  const id3 = await submit(3, w3);
  const honest3 = held.get(id3)!;
  const lyingSource = { ...honest3, residualBefore: zeros() };
  held.set(id3, lyingSource);
  await validator.afterCommit(3, theta0, [id3]);
  await validator.idle();
  assert.equal((await verdicts()).at(-1)!.code, 'EVIDENCE_MISMATCH');

  // Lie 2: a lazy page that did no work commits to a forged e_b and the honest-looking frame of it
  // (the chain from its last checked contribution breaks): the validator asks for both residuals
  // opened at a codec chunk and the sampled leaves, and the work check on the member's own
  // residuals fails.
  const forged = e.map((x, i) => x + (i % 5 === 0 ? 1e-2 : 0));
  const lazy = encodeUpdate(forged, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 4, samples: run.inner.steps * run.inner.batchSize });
  const lazyWork = {
    evidence: { frame: lazy.bytes, residualBefore: forged, residualAfter: lazy.residual },
    claim: { ...w3.claim, round: 4, frameHash: hashFrame(lazy.bytes), residualHash: residualCommitment(forged, lazy.residual) },
  };
  asks.length = 0;
  await validator.afterCommit(4, theta0, [await submit(4, lazyWork)]);
  await validator.idle();
  assert.deepEqual(
    asks.map((a) => a.needs),
    // Opened leaves at sampling; opened at codec chunk 0 (leaves 0–63: 4,096 values) when the check
    // finds the chain broken; both residuals in full when the work check fails on the opened
    // leaves alone (Validator.escalate): it fails over every value too.
    [OPENED, { ...OPENED, leaves: CHUNK_0 }, { before: true, after: true, leaves: [] }],
  );
  assert.equal((await verdicts()).at(-1)!.code, 'WORK_MISMATCH');
  await sql.close();
});

test('WebGPU work (re-executed within float drift, never bit for bit): checks open 8 leaves of each residual and carry the chain; honest rounds pass, a lazy and a shaped frame fail', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  // Every contribution sampled (trust never reached), leaves drawn by a seeded coin.
  const always: RunSpec = { ...run, verification: { ...run.verification, trustAfter: 1_000 } };
  const member = addr(31);
  const held = new Map<number, Evidence>();
  const uploads: number[] = [];
  const submit = acceptedWebgpu(sql, ledger, member, held, 300n);
  const validator = new Validator({
    run: always,
    ledger,
    train,
    heldOut,
    random: createRng(7),
    gpu: false,
    evidence: async (c, needs) => {
      const body = encodeEvidence(uploadFor(held.get(c.id)!, needs));
      uploads.push(body.byteLength);
      return decodeEvidence(body, run.paramCount);
    },
  });
  const verdicts = async () =>
    (await sql.query<{ code: string | null; verification: string }>(`select verification, reason_code as code from contributions order by id`)).rows;
  // A WebGPU page: its Δ differs from the re-execution's in the low bits (1e-6 relative here;
  // Dawn against Chromium pages measured 3.7e-7 … 1.6e-5), so its e_a is never derived.
  const driftedWork = (round: number, e: Float32Array, flip = false) => work(member, round, theta0, e, run.inner.steps, run.inner.steps, { drift: 1e-6, flip });
  let e: Float32Array = zeros();
  for (let round = 0; round < 4; round++) {
    const w = driftedWork(round, e);
    await validator.afterCommit(round, theta0, [await submit(round, w)]);
    await validator.idle();
    e = w.evidence.residualAfter;
  }
  assert.deepEqual(
    (await verdicts()).map((r) => r.verification),
    ['passed', 'passed', 'passed', 'passed'],
  );
  // Nothing in full: e_b zeros then the carried approximation with its opened leaves, e_a opened.
  assert.deepEqual(validator.residuals, { known: 1, uploaded: 0, opened: 7, askedAgain: 0 });
  const openedBytes = 16 * (4 + 4 * RESIDUAL_LEAF + 32 * 8);
  for (const bytes of uploads) assert.ok(bytes < 1 + 4 + openedBytes + 4096, `${bytes} bytes: a frame and 8 opened leaves of each residual`);
  console.log(`evidence upload: ${uploads.join(', ')} bytes a check (residuals in full: ${8 * run.paramCount})`);

  // Lazy: no training, the frame of e_b alone, e_a what that leaves: the work check on the leaves fails.
  const lazy = encodeUpdate(e, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 4, samples: run.inner.steps * run.inner.batchSize });
  const lazyWork = {
    evidence: { frame: lazy.bytes, residualBefore: e, residualAfter: lazy.residual },
    claim: {
      account: member,
      round: 4,
      frameHash: hashFrame(lazy.bytes),
      residualHash: residualCommitment(e, lazy.residual),
      samples: run.inner.steps * run.inner.batchSize,
      steps: run.inner.steps,
    },
  };
  await validator.afterCommit(4, theta0, [await submit(4, lazyWork)]);
  await validator.idle();
  assert.equal((await verdicts()).at(-1)!.code, 'WORK_MISMATCH');

  // Shaped: the work done, but the frame sign-flipped and e_a made to balance it (Δ_claimed exact):
  // the codec check against the carried approximation of e_b fails it.
  const shaped = driftedWork(5, e, true);
  await validator.afterCommit(5, theta0, [await submit(5, shaped)]);
  await validator.idle();
  assert.equal((await verdicts()).at(-1)!.code, 'FRAME_MISMATCH');
  await sql.close();
});

test('a work check that fails on the sampled leaves alone asks for both residuals in full before it punishes: drift where Δ is small passes, missing work still fails', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  const always: RunSpec = { ...run, verification: { ...run.verification, trustAfter: 1_000 } };
  const member = addr(41);
  const held = new Map<number, Evidence>();
  const asked: EvidenceNeeds[] = [];
  const submit = acceptedWebgpu(sql, ledger, member, held, 500n);
  const checked: CheckResult[] = [];
  const validator = new Validator({
    run: always,
    ledger,
    train,
    heldOut,
    // A coin that always reads 0: every contribution sampled, and the sampled leaves are 0–7 (the
    // first 512 weights: in MNIST those of pixels in the image's corner, never lit, where Δ is
    // weight decay alone and an honest page's float drift is the largest share of it).
    random: () => 0,
    gpu: false,
    evidence: async (c, needs) => (asked.push(needs), decodeEvidence(encodeEvidence(uploadFor(held.get(c.id)!, needs)), run.paramCount)),
    onChecked: (_, r) => checked.push(r),
  });
  // Round 0 (e_b zeros, e_a opened) carries an approximation of e_a; round 1 opens e_b's leaves, so
  // its work check compares the sampled leaves alone.
  const r0 = work(member, 0, theta0, zeros(), run.inner.steps, run.inner.steps, { drift: 1e-6 });
  await validator.afterCommit(0, theta0, [await submit(0, r0)]);
  await validator.idle();
  // A difference of 7 % of Δ's RMS on the sampled leaves alone: about 1.4 % over the whole vector.
  const drifted = work(member, 1, theta0, r0.evidence.residualAfter, run.inner.steps, run.inner.steps, { noise: { size: 0.07, upTo: 8 * RESIDUAL_LEAF } });
  await validator.afterCommit(1, theta0, [await submit(1, drifted)]);
  await validator.idle();
  const passed = checked.at(-1)!;
  assert.equal(passed.passed, true, JSON.stringify(passed));
  assert.ok(passed.detail.escalated && passed.detail.escalated.sampledRelDelta > verificationOf(always).tolerance, JSON.stringify(passed.detail));
  assert.ok(passed.detail.escalated.compared < run.paramCount && passed.detail.compared === run.paramCount, JSON.stringify(passed.detail));
  assert.deepEqual(asked.at(-1), { before: true, after: true, leaves: [] });
  // 20 % everywhere is not drift: the whole-vector check fails it too.
  const sloppy = work(member, 2, theta0, drifted.evidence.residualAfter, run.inner.steps, run.inner.steps, { noise: { size: 0.2, upTo: run.paramCount } });
  await validator.afterCommit(2, theta0, [await submit(2, sloppy)]);
  await validator.idle();
  const failed = checked.at(-1)!;
  assert.equal(failed.passed, false);
  assert.equal(!failed.passed && failed.rejection.code, 'WORK_MISMATCH');
  assert.ok(failed.detail.relDelta! > verificationOf(always).tolerance && failed.detail.compared === run.paramCount, JSON.stringify(failed.detail));
  await sql.close();
});

test('a broken chain (the previous contribution not checked) opens one codec chunk of each residual, not e_b in full: honest work passes, a lazy and a sign-flipped frame fail', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(theta0), params: theta0, momentum: zeros() });
  const half: RunSpec = { ...run, verification: { ...run.verification, trustAfter: 1_000, newIdentityRate: 0.5 } };
  const member = addr(51);
  const held = new Map<number, Evidence>();
  const asked: EvidenceNeeds[] = [];
  const uploads: number[] = [];
  const submit = acceptedWebgpu(sql, ledger, member, held, 700n);
  const checked: CheckResult[] = [];
  // The sampling coin: 0.99 skips the next contribution (newIdentityRate 0.5), 0 samples it;
  // leaves and chunks are drawn from a seeded generator.
  const coins: number[] = [];
  const rng = createRng(11);
  const validator = new Validator({
    run: half,
    ledger,
    train,
    heldOut,
    random: () => coins.shift() ?? rng(),
    gpu: false,
    evidence: async (c, needs) => {
      asked.push(needs);
      const body = encodeEvidence(uploadFor(held.get(c.id)!, needs));
      uploads.push(body.byteLength);
      return decodeEvidence(body, run.paramCount);
    },
    onChecked: (_, r) => checked.push(r),
  });
  const round = async (r: number, w: ReturnType<typeof work>, coin: number) => {
    coins.push(coin);
    await validator.afterCommit(r, theta0, [await submit(r, w)]);
    await validator.idle();
  };
  const drifted = (r: number, e: Float32Array, flip = false) => work(member, r, theta0, e, run.inner.steps, run.inner.steps, { drift: 1e-6, flip });
  // Round 0 checked; round 1 skipped; round 2 sampled with the chain broken.
  const w0 = drifted(0, zeros());
  await round(0, w0, 0);
  const w1 = drifted(1, w0.evidence.residualAfter);
  await round(1, w1, 0.99);
  assert.equal(asked.length, 1, 'round 1 was not sampled');
  const w2 = drifted(2, w1.evidence.residualAfter);
  await round(2, w2, 0);
  const ask = asked.at(-1)!;
  assert.equal(ask.before, false, 'e_b is not asked in full');
  const chunkLeaves = run.codec.chunkSize / RESIDUAL_LEAF;
  // Whether `leaves` hold every leaf of some codec chunk (the model's last chunk is shorter).
  const wholeChunk = (leaves: number[]) =>
    Array.from({ length: Math.ceil(run.paramCount / run.codec.chunkSize) }, (_, j) => j).some((j) => {
      const [from, to] = [j * chunkLeaves, Math.min(Math.ceil(run.paramCount / RESIDUAL_LEAF), (j + 1) * chunkLeaves)];
      for (let l = from; l < to; l++) if (!leaves.includes(l)) return false;
      return true;
    });
  assert.ok(wholeChunk(ask.leaves) && ask.leaves.length <= chunkLeaves + 8, `${ask.leaves.length} leaves: one codec chunk and the 8 sampled`);
  const ok = checked.at(-1)!;
  assert.equal(ok.passed, true, JSON.stringify(ok));
  assert.ok(
    ok.detail.codecCompared! > 0 && ok.detail.codecCompared! <= run.codec.chunkSize,
    `the codec check ran on the opened chunk: ${ok.detail.codecCompared} values`,
  );
  assert.ok(ok.detail.compared! <= 8 * RESIDUAL_LEAF, 'the work check compared the sampled leaves');
  // Both residuals opened at those leaves (values, indices, a multiproof of at most one path per
  // sampled leaf and one for the chunk), the frame and a byte of modes: nothing in full.
  const depth = Math.ceil(Math.log2(Math.ceil(run.paramCount / RESIDUAL_LEAF)));
  const bound = 1 + w2.evidence.frame.byteLength + 2 * (2 + ask.leaves.length * (4 + 4 * RESIDUAL_LEAF) + 32 * 9 * depth);
  assert.ok(uploads.at(-1)! <= bound, `${uploads.at(-1)} bytes, above ${bound}`);
  console.log(`broken chain: ${uploads.at(-1)} bytes of evidence (e_b in full: ${4 * run.paramCount} bytes)`);

  // The chain stays broken after a check on a chunk (e_a is not known elsewhere): the next sampled
  // contribution is asked for a chunk at once, one ask, not the sampled leaves and then a chunk.
  const w3 = drifted(3, w2.evidence.residualAfter);
  const before3 = asked.length;
  await round(3, w3, 0);
  assert.equal(asked.length, before3 + 1, 'one ask');
  assert.ok(wholeChunk(asked.at(-1)!.leaves), 'a codec chunk at sampling');
  assert.equal(checked.at(-1)!.passed, true, JSON.stringify(checked.at(-1)));

  // A sign-flipped frame balanced through e_a, on a broken chain: caught on the opened chunk.
  const shaped = drifted(4, w3.evidence.residualAfter, true);
  await round(4, shaped, 0);
  const flipped = checked.at(-1)!;
  assert.equal(!flipped.passed && flipped.rejection.code, 'FRAME_MISMATCH', JSON.stringify(flipped));

  // Lazy on a broken chain: the frame of e_b alone; the work check on the sampled leaves fails, and
  // so does the whole-vector check it escalates to.
  const e5 = shaped.evidence.residualAfter;
  await round(5, drifted(5, e5), 0.99);
  const lazy = encodeUpdate(e5, run.codec, { paramTableHash: run.paramTableHash, run: run.id, round: 6, samples: run.inner.steps * run.inner.batchSize });
  const lazyWork = {
    evidence: { frame: lazy.bytes, residualBefore: e5, residualAfter: lazy.residual },
    claim: { ...w0.claim, round: 6, frameHash: hashFrame(lazy.bytes), residualHash: residualCommitment(e5, lazy.residual) },
  };
  await round(6, lazyWork, 0);
  const lazyResult = checked.at(-1)!;
  assert.equal(!lazyResult.passed && lazyResult.rejection.code, 'WORK_MISMATCH', JSON.stringify(lazyResult));
  await sql.close();
});
