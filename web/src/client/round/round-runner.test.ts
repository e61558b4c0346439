// The round runner with fakes: in-memory peer links, a manual scheduler (no real time), a fake
// trainer, and the coordinator's calls recorded. DESIGN.md steps 2–6 end to end for a cohort.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import { recoverTypedDataAddress, type Address, type Hex } from 'viem';
import { decodeFrame, hashFrame, toDense } from '../../../../shared/codec.ts';
import { DEFAULT_RUN, runSpecOf, type RunSpec } from '../../../../shared/config.ts';
import { contributionTypedData, eip712Domain } from '../../../../shared/eip712.ts';
import { framesRoot } from '../../../../shared/aggregate.ts';
import { cohortAggregateOfBytes, compressUpdate, peerUpdateLimits, pseudoGradient } from '../../../../shared/round.ts';
import {
  contributionFromJson,
  decodeEvidence,
  innerStateBytes,
  momentsDigest,
  residualCommitment,
  stateDigests,
  type ChainInfo,
  type EvidenceNeeds,
  type StateAfterPart,
  type ServerMessage,
} from '../../../../shared/wire/index.ts';
import { TrainingAbortedError } from '../../../../kernels/errors.ts';
import type { CohortExchange } from '../p2p/exchange.ts';
import { initialSnapshot, SnapshotStore } from '../snapshot.ts';
import { DEFAULT_GOVERNANCE } from '../governance.ts';
import { MemoryStorage, type OutboxRecord } from '../storage.ts';
import { FakeNetwork, ManualScheduler, settle, until, verifyMessageSync } from '../testing.ts';
import type { AggregateArgs, TrainArgs, TrainResult } from '../trainer.ts';
import { Outbox } from '../outbox.ts';
import { EVIDENCE_ROUNDS_KEPT, RoundRunner, type RoundMessage } from './round-runner.ts';
import type { RelayMessage } from './agreement.ts';
import {
  FakeRelay,
  finish,
  run,
  keptRun,
  chain,
  KEYS,
  theta,
  fakeTrainer,
  fakeLocal,
  relays,
  relayOf,
  page,
  roundFor,
  signer,
  cohortOfThree,
} from './round-runner.fixture.ts';

test('a cohort of three completes the round: one aggregate uploaded, every member reports it, signed', async () => {
  const { pages } = await cohortOfThree();
  const own = pages.map((p) => p.reports[0]?.report.contribution.frameHash);
  for (const p of pages) {
    assert.equal(p.reports.length, 1, `page ${p.i} reported ${p.reports.length} times:\n${p.logs()}`);
    const r = p.reports[0].report;
    assert.equal(r.contribution.partner, p.i === 0 ? 'blog' : '');
    assert.deepEqual([...r.frameHashes].sort(), [...own].sort(), `page ${p.i} names every member's frame`);
    assert.equal(r.contribution.framesRoot, framesRoot([...own].sort()));
    assert.equal(r.contribution.cohort, 5);
    assert.equal(await signer(p.reports[0]), p.address, 'signed by the device key');
    assert.equal(p.reports[0].aggregate, null);
    assert.equal(p.store.get().phase, 'waiting');
  }
  assert.equal(new Set(pages.map((p) => p.reports[0].report.contribution.aggregateHash)).size, 1, 'one aggregate for the cohort');
  // Exactly the designated uploader (smallest address) uploaded, and what it uploaded is what everyone signed.
  const uploader = [...pages].sort((a, b) => (a.address < b.address ? -1 : 1))[0];
  for (const p of pages) assert.equal(p.uploads.length, p === uploader ? 1 : 0, `page ${p.i} uploads`);
  assert.equal(hashFrame(uploader.uploads[0]), pages[0].reports[0].report.contribution.aggregateHash);
});

test('a member that never answers is left out: the others aggregate and report without it at the deadline', async () => {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const pages = [0, 1, 2].map((i) => page(i, net, sched));
  net.dead.add(pages[2].peerId);
  const m = roundFor(pages, sched, 4);
  const live = pages.slice(0, 2);
  const done = Promise.all(live.map((p) => p.runner.begin(m, run)));
  // Signatures take real work: let the two live members swap frames, then pass the deadline.
  await until(() => live.every((p) => p.store.get().cohort?.frames === 1), "the live members' frames");
  await finish(sched, done);
  for (const p of pages.slice(0, 2)) {
    assert.equal(p.reports.length, 1, p.logs());
    const names = p.reports[0].report.frameHashes;
    assert.equal(names.length, 2, "the silent member's frame is not in the aggregate");
    assert.ok(names.includes(p.reports[0].report.contribution.frameHash));
    assert.match(p.logs(), new RegExp(`left out: ${pages[2].peerId}`));
  }
  assert.equal(pages[0].reports[0].report.contribution.aggregateHash, pages[1].reports[0].report.contribution.aggregateHash);
});

test('a refused aggregate upload stays in the report for the outbox to retry; a socket that is down is said', async () => {
  const sched = new ManualScheduler();
  const p = page(0, new FakeNetwork(), sched);
  p.refuseAggregates();
  p.dropSocket();
  await p.runner.begin(roundFor([p], sched, 2), run);
  assert.equal(p.reports.length, 1);
  assert.ok(p.reports[0].aggregate, 'the aggregate it could not upload is kept with the report');
  assert.equal(hashFrame(p.reports[0].aggregate!), p.reports[0].report.contribution.aggregateHash);
  assert.match(p.logs(), /aggregate upload failed: HTTP 409/);
  assert.match(p.logs(), /connection is down; the report waits in the outbox/);
});

test('a refused report leaves the outbox: delivered when the coordinator holds it, dropped visibly otherwise', async () => {
  const storage = new MemoryStorage();
  const store = new SnapshotStore(initialSnapshot({ storage, partner: null, governance: DEFAULT_GOVERNANCE }));
  const outbox = new Outbox({ storage, api: { postAggregate: async () => ({ aggregateHash: `0x${'00'.repeat(32)}` }) }, store, send: () => true });
  const rec = (nonce: string): OutboxRecord => ({
    nonce,
    run: 7,
    round: 9,
    createdAt: 0,
    report: { type: 'report' } as OutboxRecord['report'],
    aggregate: null,
  });
  for (const n of ['1', '2', '3']) assert.equal(await outbox.add(rec(n)), true);
  assert.equal(store.get().outbox, 3);
  assert.ok(outbox.owns('2') && !outbox.owns('4'));
  await outbox.refused('1', 'DUPLICATE', 'already held');
  await outbox.refused('2', 'STALE_ROUND', 'round 9 is over');
  await outbox.refused('3', 'BAD_SIGNATURE', 'does not recover');
  assert.deepEqual(await storage.listOutbox(), []);
  assert.equal(store.get().outbox, 0);
  const log = store.get().log;
  assert.match(log.find((l) => l.text.includes('DUPLICATE'))!.level, /info/);
  assert.equal(log.find((l) => l.text.includes('STALE_ROUND'))!.level, 'warn');
  assert.equal(log.find((l) => l.text.includes('BAD_SIGNATURE'))!.level, 'error');
  assert.deepEqual(store.get().errors.length, 1);
});

test(`evidence is kept for the last ${EVIDENCE_ROUNDS_KEPT} rounds and matches what a validator re-derives`, async () => {
  const sched = new ManualScheduler();
  const p = page(0, new FakeNetwork(), sched);
  const rounds = EVIDENCE_ROUNDS_KEPT + 2;
  for (let r = 1; r <= rounds; r++) {
    await p.runner.begin(roundFor([p], sched, r), keptRun);
    await sched.advance(30_000);
  }
  assert.equal(p.reports.length, rounds);
  let previousAfter: Float32Array | null = null;
  let previousState: StateAfterPart | null = null;
  for (const [k, rec] of p.reports.entries()) {
    const c = rec.report.contribution;
    const ev = p.runner.evidenceFor(c.frameHash);
    if (k < rounds - EVIDENCE_ROUNDS_KEPT) {
      assert.equal(ev, undefined, `round ${rec.round}'s evidence is dropped`);
      continue;
    }
    assert.ok(ev, `round ${rec.round}'s evidence is kept`);
    assert.equal(hashFrame(ev.frame), c.frameHash);
    // The residual commitment in the signed report is the evidence's, and error feedback holds:
    // e_after = (θ_r − θ_local + e_before) − decode(frame), and the next round starts from e_after.
    // The run keeps the inner AdamW state (keptRun): the commitment holds it too, and each round
    // trains from the state the previous one ended with (zeros, t = 0, at first).
    assert.ok(ev.state, 'a run that keeps the inner state keeps it as evidence');
    assert.equal(residualCommitment(ev.before, ev.after, stateDigests(ev.state)), c.residualHash);
    assert.equal(ev.state.after.t, ev.state.before.t + rec.report.contribution.steps);
    if (previousState) assert.equal(momentsDigest(ev.state.before), previousState.moments, 'each round starts from the previous inner state');
    if (previousState) assert.equal(ev.state.before.t, previousState.t);
    previousState = ev.state.after;
    if (previousAfter) assert.deepEqual(ev.before, previousAfter, 'each round starts from the previous residual');
    previousAfter = ev.after;
    const decoded = toDense(decodeFrame(ev.frame, peerUpdateLimits(run, rec.round)));
    const local = fakeLocal(theta, 0, k + 1); // the fake trainer's θ_local of round k + 1
    const worst = Math.max(...decoded.map((d, i) => Math.abs(d + ev.after[i] - (Math.fround(theta[i] - local[i]) + ev.before[i]))));
    assert.ok(worst < 1e-6, `decode(frame) + e_after differs from θ_r − θ_local + e_before by ${worst}`);
    assert.ok(
      decoded.some((d) => d !== 0),
      'the frame carries an update',
    );
  }
  // A sampled contribution: the evidence goes up with what the validator asked for in full and
  // the other residual as its digest, and both match the committed residual hash.
  const last = p.reports.at(-1)!;
  const ask = (needs: EvidenceNeeds) =>
    p.runner.answerVerify({
      type: 'verify',
      run: run.id,
      round: last.round,
      frameHash: last.report.contribution.frameHash,
      needs,
      deadline: sched.now() + 1000,
      serverTime: sched.now(),
    });
  await ask({ before: false, after: false, leaves: [] });
  assert.equal(p.evidence.length, 1);
  const light = decodeEvidence(p.evidence[0], run.paramCount);
  assert.ok(typeof light.before === 'string' && typeof light.after === 'string', 'digests only');
  const stateBytes = innerStateBytes(run.paramCount);
  assert.ok(p.evidence[0].byteLength < 1 + 64 + stateBytes + 16_384, `${p.evidence[0].byteLength} bytes: a frame, two digests and the inner state`);
  assert.ok(light.state, 'the inner state goes up with the evidence');
  assert.deepEqual(light.state, p.runner.evidenceFor(last.report.contribution.frameHash)!.state, 'the state before in full, the state after as its digest');
  assert.equal(residualCommitment(light.before, light.after, stateDigests(light.state)), last.report.contribution.residualHash);
  await ask({ before: false, after: true, leaves: [] });
  const body = decodeEvidence(p.evidence[1], run.paramCount);
  assert.ok(typeof body.before === 'string' && body.after instanceof Float32Array && body.after.length === run.paramCount);
  assert.equal(residualCommitment(body.before, body.after, stateDigests(body.state!)), last.report.contribution.residualHash);
  // One that is no longer held: said, nothing uploaded.
  await p.runner.answerVerify({
    type: 'verify',
    run: run.id,
    round: 1,
    frameHash: p.reports[0].report.contribution.frameHash,
    needs: { before: true, after: true, leaves: [] },
    deadline: 0,
    serverTime: 0,
  });
  assert.equal(p.evidence.length, 2);
  assert.match(p.logs(), /no longer holds its evidence/);
});

test('Stop mid-round: the training is aborted and nothing is compressed, kept or reported', async () => {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const pages = [0, 1].map((i) => page(i, net, sched));
  const p = pages[0];
  p.trainer.gate = new Promise(() => undefined); // trains until stopped
  const m = roundFor(pages, sched, 6);
  const done = p.runner.begin(m, run);
  await settle();
  assert.equal(p.runner.training, true);
  assert.equal(p.store.get().phase, 'training');
  p.stop();
  p.trainer.abort();
  await done;
  assert.equal(p.runner.training, false);
  assert.equal(p.reports.length, 0);
  assert.equal(p.store.get().ownFrames.count, 0);
  assert.equal(p.store.get().phase, 'idle');
  assert.match(p.logs(), /training stopped; nothing is reported for it/);
  // The next round after Start is taken normally (lending again).
  p.trainer.gate = null;
  const p2 = page(0, new FakeNetwork(), sched);
  await p2.runner.begin(roundFor([p2], sched, 7), run);
  assert.equal(p2.reports.length, 1);
});

test('a round stopped in training keeps the residual: the next round starts from the last sent one', async () => {
  const sched = new ManualScheduler();
  const p = page(0, new FakeNetwork(), sched);
  await p.runner.begin(roundFor([p], sched, 1), run);
  await sched.advance(30_000);
  const first = p.runner.evidenceFor(p.reports[0].report.contribution.frameHash)!;
  assert.ok(
    first.after.some((x) => x !== 0),
    'round 1 left a residual',
  );

  // Round 2: the residual travels to the worker with the round, and the round is stopped.
  p.trainer.gate = new Promise(() => undefined);
  const stopped = p.runner.begin(roundFor([p], sched, 2), run);
  await settle();
  p.trainer.abort();
  await stopped;
  assert.equal(p.reports.length, 1);

  p.trainer.gate = null;
  await p.runner.begin(roundFor([p], sched, 3), run);
  await sched.advance(30_000);
  assert.equal(p.reports.length, 2);
  const third = p.runner.evidenceFor(p.reports[1].report.contribution.frameHash)!;
  assert.deepEqual(third.before, first.after, 'round 3 compresses on top of round 1’s residual');
});

test('partial connectivity (A–B, B–C, not A–C): the missing frames travel through the relay and all three sign one aggregate of all three frames', async () => {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const pages = [0, 1, 2].map((i) => page(i, net, sched));
  net.block(pages[0].peerId, pages[2].peerId);
  const m = roundFor(pages, sched, 3);
  await finish(sched, Promise.all(pages.map((p) => p.runner.begin(m, run))));
  const own = pages.map((p) => p.reports[0]?.report.contribution.frameHash);
  for (const p of pages) {
    assert.equal(p.reports.length, 1, `page ${p.i} reported:\n${p.logs()}`);
    assert.deepEqual([...p.reports[0].report.frameHashes].sort(), [...own].sort(), `page ${p.i} signs every member's frame`);
  }
  assert.equal(new Set(pages.map((p) => p.reports[0].report.contribution.aggregateHash)).size, 1, 'one aggregate');
  const relay = relayOf(net);
  const relayed = relay.relays.map((r) => `${r.from}>${r.to.join(',')}`).sort();
  assert.deepEqual(relayed, [`${pages[0].address}>${pages[2].address}`, `${pages[2].address}>${pages[0].address}`].sort(), 'only A and C relay, to each other');
  assert.equal(relay.announcements.length, 1, 'one announcement');
  for (const p of [pages[0], pages[2]]) assert.match(p.logs(), /relayed our frame through the coordinator to 1 member/);
});

test('no WebRTC path at all: every frame goes through the relay and the cohort still signs one aggregate of every frame', async () => {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const pages = [0, 1, 2].map((i) => page(i, net, sched));
  for (const a of pages) for (const b of pages) if (a !== b) net.block(a.peerId, b.peerId);
  const m = roundFor(pages, sched, 4);
  await finish(sched, Promise.all(pages.map((p) => p.runner.begin(m, run))));
  const hashes = pages.map((p) => p.reports[0]?.report.frameHashes.length);
  assert.deepEqual(hashes, [3, 3, 3], pages.map((p) => p.logs()).join('\n----\n'));
  assert.equal(new Set(pages.map((p) => p.reports[0].report.contribution.aggregateHash)).size, 1);
  assert.equal(relayOf(net).relays.length, 3, 'each member relays once');
});

/** Three pages; page 2 trains late, so the two on time announce without its frame. `scale` multiplies its update. */
async function lateMember(scale: number) {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const pages = [0, 1, 2].map((i) => page(i, net, sched));
  const late = pages[2];
  late.trainer.scale = scale;
  let release!: () => void;
  late.trainer.gate = new Promise<void>((r) => (release = r));
  const m = roundFor(pages, sched, 5);
  const done = Promise.all(pages.map((p) => p.runner.begin(m, run)));
  // The two on time announce without the late member's frame once the relay wait has passed.
  for (let t = 0; t < 14_000 && relayOf(net).announcements.length === 0; t += 250) await sched.advance(250);
  assert.equal(relayOf(net).announcements.length, 1, 'the uploader announced');
  late.trainer.gate = null;
  release();
  await finish(sched, done);
  const announced = pages[0].reports[0].report.frameHashes;
  assert.equal(announced.length, 2);
  assert.equal(late.reports.length, 1, late.logs());
  return { pages, late, m, announced, lateReport: late.reports[0].report };
}

/** e' + decode(frame) = v: the residual a page kept is its whole update (the evidence's e' is not). */
async function keptWholeUpdate(p: ReturnType<typeof page>, frameHash: Hex, round: number): Promise<void> {
  const ev = p.runner.evidenceFor(frameHash)!;
  const kept = (await p.storage.getResidual())!.residual;
  const decoded = toDense(decodeFrame(ev.frame, peerUpdateLimits(run, round)));
  const worst = Math.max(...kept.map((x, i) => Math.abs(x - (ev.after[i] + decoded[i]))));
  assert.ok(worst < 1e-7, `page ${p.i}: the kept residual differs from e' + decode(frame) by ${worst}`);
}

test('a member left out of the announced set whose frame the vote keeps does not sign it: it signs the announced frames plus its own, keeping its whole update', async () => {
  const { pages, late, m, announced, lateReport } = await lateMember(1);
  const own = lateReport.contribution.frameHash;
  assert.ok(!announced.includes(own), 'its own frame is not in the announcement');
  // Signing the announced set would make the coordinator refuse it LEFT_OUT (conduct): it signs the vote over the announced frames and its own.
  assert.deepEqual(lateReport.frameHashes, [...announced, own].sort(), 'the announced frames plus its own');
  assert.notEqual(lateReport.contribution.aggregateHash, pages[0].reports[0].report.contribution.aggregateHash);
  assert.equal(lateReport.contribution.framesRoot, framesRoot([...announced, own].sort()));
  assert.equal(late.uploads.length, 0, 'that aggregate is never uploaded');
  assert.equal(late.reports[0].aggregate, null);
  assert.match(late.logs(), /announced 2 frame\(s\) without ours, but the vote over them and ours keeps it \(3 frame\(s\), norms/);
  assert.match(late.logs(), /left out by the uploader; its whole update stays in the residual/);
  await keptWholeUpdate(late, own, m.round);
  // A refusal at commit (AGGREGATE_MISSING) gives nothing back twice: the residual never advanced.
  late.runner.settled({ type: 'ack', nonce: lateReport.contribution.nonce, state: 'rejected', reason: 'never uploaded' });
  await settle();
  await keptWholeUpdate(late, own, m.round);
  // The members inside the aggregate signed it and advanced theirs to e'.
  for (const p of pages.slice(0, 2)) {
    assert.deepEqual(p.reports[0].report.frameHashes, announced);
    const e = p.runner.evidenceFor(p.reports[0].report.contribution.frameHash)!;
    assert.deepEqual((await p.storage.getResidual())!.residual, e.after, `page ${p.i} advanced its residual`);
  }
});

test('a member left out of the announced set whose frame the vote refuses (an outlier) signs the announced set and keeps its whole update', async () => {
  const { late, m, announced, lateReport, pages } = await lateMember(-4);
  const own = lateReport.contribution.frameHash;
  assert.deepEqual(lateReport.frameHashes, announced, 'the late member signs the announced set');
  assert.equal(lateReport.contribution.aggregateHash, pages[0].reports[0].report.contribution.aggregateHash);
  assert.ok(!announced.includes(own), 'its own frame is not in it');
  assert.doesNotMatch(late.logs(), /without ours, but the vote/);
  assert.match(late.logs(), /its whole update stays in the residual/);
  await keptWholeUpdate(late, own, m.round);
});

test("an uploader that drops an on-time member's frame from its aggregate: that member signs the announced frames plus its own, the other signs the announcement", async () => {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const pages = [0, 1, 2].map((i) => page(i, net, sched));
  const [uploader, other, victim] = [...pages].sort((a, b) => (a.address < b.address ? -1 : 1));
  const honest = uploader.trainer.aggregate;
  uploader.trainer.aggregate = (a) => honest({ ...a, received: a.received.filter((f) => f.address.toLowerCase() !== victim.address) });
  const m = roundFor(pages, sched, 4);
  await finish(sched, Promise.all(pages.map((p) => p.runner.begin(m, run))));
  assert.equal(uploader.uploads.length, 1);
  const announced = uploader.reports[0].report.frameHashes;
  const victimOwn = victim.reports[0].report.contribution.frameHash;
  assert.equal(announced.length, 2);
  assert.ok(!announced.includes(victimOwn));
  assert.deepEqual(other.reports[0].report.frameHashes, announced, 'a member whose frame is in signs the announcement');
  assert.deepEqual(victim.reports[0].report.frameHashes, [...announced, victimOwn].sort(), victim.logs());
  assert.match(victim.logs(), new RegExp(`the uploader ${uploader.address} announced 2 frame`));
  await keptWholeUpdate(victim, victimOwn, m.round);
});

test("a contribution refused at commit gives its whole update back to the residual; an accepted one keeps e'", async () => {
  const { pages, m } = await cohortOfThree();
  const verdict = (p: (typeof pages)[number], state: 'accepted' | 'rejected') =>
    p.runner.settled({ type: 'ack', nonce: p.reports[0].report.contribution.nonce, state, reason: state === 'rejected' ? 'no quorum' : null });
  const kept = async (p: (typeof pages)[number]) => (await p.storage.getResidual())!.residual.slice();
  const evidenceOf = (p: (typeof pages)[number]) => p.runner.evidenceFor(p.reports[0].report.contribution.frameHash)!;
  for (const p of pages) assert.deepEqual(await kept(p), evidenceOf(p).after, `page ${p.i} advanced to e'`);

  // Refused (NO_QUORUM, a refused aggregate): e' + decode(frame) = v, the whole update.
  verdict(pages[0], 'rejected');
  await settle();
  const ev = evidenceOf(pages[0]);
  const decoded = toDense(decodeFrame(ev.frame, peerUpdateLimits(run, m.round)));
  const whole = ev.after.map((x, i) => x + decoded[i]);
  assert.deepEqual(await kept(pages[0]), whole);
  assert.match(pages[0].logs(), /refused at commit \(no quorum\); its update goes back into the residual/);
  // The same verdict again (a resent ack) gives nothing back twice.
  verdict(pages[0], 'rejected');
  await settle();
  assert.deepEqual(await kept(pages[0]), whole);
  // Accepted: e' stays.
  verdict(pages[1], 'accepted');
  await settle();
  assert.deepEqual(await kept(pages[1]), evidenceOf(pages[1]).after);
});

test('an announcement that names no frame (its uploader dropped them all) and does not match ours: the member abstains, saying why', async () => {
  const sched = new ManualScheduler();
  const net = new FakeNetwork();
  const relay = relayOf(net);
  // The uploader's aggregate emptied by the vote reaches the others as an aggregate of no frames.
  const send = relay.send.bind(relay);
  relay.send = (from, msg) => send(from, msg.type === 'announce' ? { ...msg, aggregateHash: `0x${'ab'.repeat(32)}`, frameHashes: [] } : msg);
  const pages = [0, 1, 2].map((i) => page(i, net, sched));
  const m = roundFor(pages, sched, 3);
  await finish(sched, Promise.all(pages.map((p) => p.runner.begin(m, run))));
  const uploader = [...pages].sort((a, b) => (a.address < b.address ? -1 : 1))[0];
  for (const p of pages.filter((x) => x !== uploader)) {
    assert.equal(p.reports.length, 0, p.logs());
    assert.match(p.logs(), /aggregate to 0x[0-9a-f]+ here, not 0xabab.*abstaining/);
    assert.doesNotMatch(p.logs(), /could not aggregate/);
  }
});
