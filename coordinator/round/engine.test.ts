// The round engine end to end in one process: a fake clock, fake sessions, an in-memory
// PGlite ledger. Three members are seated; two sign the full cohort aggregate, one signs an
// aggregate of its own choosing; both aggregates are uploaded; the round commits early once
// everyone reported. Checked: the `round` and `committed` messages each session receives, the
// ledger rows (accepted with credit, rejected with a code), the round summary, and that the
// published update takes θ_0 to the announced model hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import { maxSamplesPerReport } from '../../shared/config.ts';
import { decodeFrame } from '../../shared/codec.ts';
import { aggregateLimits, applyGlobalUpdate, cohortAggregate, compressGlobalUpdate, encodeOwnUpdate, peerUpdateLimits } from '../../shared/round.ts';
import { combineCohorts } from '../../shared/robust-combine.ts';
import { type RoundSummary, type ServerMessage } from '../../shared/wire/index.ts';
import { RoundEngine, type Session } from './engine.ts';
import { threadCpuMs, type CommitPhases } from './commit-phases.ts';
import { domain, engineAtTheta0, engineTestRun, heldOut, ledgerAtTheta0, NOW, round0Frames, reportRound0 } from './engine.fixture.ts';

const run = engineTestRun({ minVolunteers: 3, cohortSize: 3 });

test('open → reports → aggregates → commit: the broadcast, the ledger rows and the published model', { timeout: 60_000 }, async (t) => {
  const { sql, ledger, theta0 } = await ledgerAtTheta0(run);

  let committed!: (s: RoundSummary) => void;
  const summary = new Promise<RoundSummary>((r) => (committed = r));
  const changed: Address[][] = [];
  const phases: CommitPhases[] = [];
  let clock = NOW;
  const engine = engineAtTheta0(
    run,
    { ledger, theta0 },
    {
      committed: (s) => committed(s),
      accountsChanged: (a) => void changed.push(a),
      commitPhases: (c) => void phases.push(c),
    },
    () => clock,
  );
  t.after(async () => {
    engine.stop();
    await sql.close();
  });

  const keys = [generatePrivateKey(), generatePrivateKey(), generatePrivateKey()].map((k) => privateKeyToAccount(k));
  const inbox = new Map<number, ServerMessage[]>();
  const sessions: Session[] = keys.map((k, i) => {
    inbox.set(i, []);
    return { id: i, address: k.address.toLowerCase() as Address, peerId: `peer-${i}`, ready: false, send: (m) => void inbox.get(i)!.push(m) };
  });
  for (const s of sessions) engine.addSession(s);
  engine.setReady(0, true);
  engine.setReady(1, true);
  const openRound = () => engine.openRound?.round ?? null;
  assert.equal(openRound(), null, 'two ready volunteers are fewer than minVolunteers: no round');
  engine.setReady(2, true);

  // Open: every member gets its seat in the one cohort.
  const rounds = sessions.map((s) => inbox.get(s.id)!.find((m) => m.type === 'round'));
  for (const r of rounds) {
    assert.ok(r && r.type === 'round');
    assert.equal(r.round, 0);
    assert.equal(r.modelHash, theta0.modelHash);
    assert.equal(r.cohort.members.length, 3);
    assert.equal(r.reportEndsAt, NOW + 600_200);
  }

  // Train: each member's frame (deterministic pseudo-gradients), and the cohort's aggregates.
  const { samples, own, held } = round0Frames(
    run,
    sessions.map((s) => s.address),
    7,
  );
  const full = cohortAggregate(run, 0, held[0], held.slice(1));
  const partial = cohortAggregate(run, 0, held[2], [held[0]]);
  assert.equal(full.hashes.length, 3);

  const report = async (i: number, agg: typeof full) => {
    return reportRound0(engine, run, sessions[i], keys[i], { cohort: 0, own: own[i], agg, samples, nonce: BigInt(i + 1) });
  };
  const ids = [await report(0, full), await report(1, full), await report(2, partial)].map((r) => r.id);
  assert.equal(openRound(), 0, 'reports alone do not commit: the voted aggregates are not uploaded yet');
  assert.equal(await engine.handleAggregate(0, partial.bytes), partial.aggregateHash);
  // Everything is in 1 ms before the training window ends: the round waits for it (a member
  // that skipped training must not speed its rounds up), also when the wait's timer fires.
  clock = NOW + run.timing.trainMs - 1;
  assert.equal(await engine.handleAggregate(0, full.bytes), full.aggregateHash);
  // A commit started now would finish well within 3 s (and report committedAt = the early clock).
  const early = await Promise.race([summary.then((x) => `committed at ${x.committedAt}`), new Promise((r) => setTimeout(() => r('waiting'), 3_000))]);
  assert.equal(early, 'waiting', 'every report is in, but startsAt + trainMs has not come: no commit');
  assert.equal(openRound(), 0);

  // Commit (early: everyone reported, every voted aggregate is uploaded, the training window is over).
  clock = NOW + run.timing.trainMs;
  const s = await summary;
  assert.equal(s.committedAt, NOW + run.timing.trainMs);
  assert.equal(s.round, 0);
  assert.equal(s.contributions, 2);
  assert.equal(s.samples, 2 * samples);
  assert.equal(s.volunteers, 3);
  assert.ok(s.updateBytes > 0);
  assert.ok(Math.abs((s.trainLoss ?? 0) - 2.1) < 1e-9, "train loss is the accepted reports' mean");
  assert.equal(engine.round, 1);
  assert.equal(engine.modelHash, s.modelHash);
  assert.notEqual(s.modelHash, theta0.modelHash);

  for (const sess of sessions) {
    const m = inbox.get(sess.id)!.find((x) => x.type === 'committed');
    assert.ok(m && m.type === 'committed', `session ${sess.id} was told the round committed`);
    assert.deepEqual(
      { round: m.round, modelHash: m.modelHash, accepted: m.accepted, updateBytes: m.updateBytes },
      { round: 0, modelHash: s.modelHash, accepted: 2, updateBytes: s.updateBytes },
    );
  }
  assert.deepEqual(changed.flat().sort(), sessions.map((x) => x.address).sort(), 'every reporting account is pushed');

  const rows = await Promise.all(ids.map((id) => ledger.contribution(id)));
  const credit = (BigInt(samples) * BigInt(run.rewards.weiPerSample)).toString();
  assert.deepEqual(
    rows.map((r) => [r!.state, r!.code, r!.creditWei]),
    [
      ['accepted', null, credit],
      ['accepted', null, credit],
      ['rejected', 'NO_QUORUM', '0'],
    ],
  );
  assert.deepEqual(
    (await ledger.rounds(run.id)).map((r) => [r.round, r.modelHash, r.contributions]),
    [[0, s.modelHash, 2]],
  );

  // A peer applying the published update to θ_0 reaches the announced hash.
  const update = await ledger.update(run.id, 0);
  assert.ok(update);
  const next = await applyGlobalUpdate({ ...theta0, run: run.id, paramTableHash: run.paramTableHash }, update, run);
  assert.equal(next.modelHash, s.modelHash);

  // The commit's phases as measured (commit-phases.ts): each step it ran, the threads' own CPU for the combine and the evaluation.
  assert.equal(phases.length, 1);
  assert.equal(phases[0].round, 0);
  const ran = Object.keys(phases[0].phases);
  const expected = [
    'settle',
    'decide',
    'combine',
    ...(run.globalUpdate === 'compressed' ? ['compress'] : []),
    'apply',
    'evaluate',
    'ledger',
    'prepare',
    'broadcast',
  ];
  assert.deepEqual(ran.sort(), expected.sort(), 'no validator here: no verify phase');
  for (const [name, f] of Object.entries(phases[0].phases))
    assert.ok(f.wallMs >= 0 && f.wallMs <= phases[0].endedAt - phases[0].startedAt + 1, `${name}: ${JSON.stringify(f)}`);
  if (threadCpuMs() !== null) {
    assert.ok(phases[0].phases.combine!.threadCpuMs! > 0, 'the aggregation thread reports its CPU');
    assert.ok(phases[0].phases.evaluate!.threadCpuMs! > 0, 'the evaluation thread reports its CPU');
  }

  // The next round opens on the new model once the commit settles.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(openRound(), 1);
  const again = inbox
    .get(0)!
    .filter((m) => m.type === 'round')
    .at(-1);
  assert.ok(again?.type === 'round' && again.round === 1 && again.modelHash === s.modelHash, 'round 1 is sent with the new model hash');
});

// Issue 14 item 4 at the engine: a flood of uploads nobody names is bounded (one per seat) and
// never blocks an honest uploader, who reports and uploads again; a relay that uploads a
// lower-hash near-copy of another cohort's aggregate is refused itself (FOREIGN_AGGREGATE)
// while the cohort it copied is credited and applied; the honest relay beside it is credited.
test('cohorts and relays: an upload flood is bounded, a copycat relay is refused and its victims are credited', { timeout: 60_000 }, async (t) => {
  const run5 = engineTestRun({ minVolunteers: 5, cohortSize: 3, globalUpdate: 'compressed', timing: { trainMs: 100, exchangeMs: 600_000, reportMs: 100 } });
  const { sql, ledger, theta0 } = await ledgerAtTheta0(run5);
  const started = performance.now();
  let committed!: (s: RoundSummary) => void;
  const summary = new Promise<RoundSummary>((r) => (committed = r));
  const engine = engineAtTheta0(
    run5,
    { ledger, theta0 },
    { committed: (s) => committed(s), accountsChanged: () => {} },
    // Advancing (from NOW): the round commits once its 100 ms training window is over.
    () => NOW + Math.floor(performance.now() - started),
  );
  t.after(async () => {
    engine.stop();
    await sql.close();
  });
  const keys = Array.from({ length: 5 }, () => privateKeyToAccount(generatePrivateKey()));
  const seatOf = new Map<number, { cohort: number; members: number }>();
  const sessions: Session[] = keys.map((k, i) => ({
    id: i,
    address: k.address.toLowerCase() as Address,
    peerId: `peer-${i}`,
    ready: false,
    send: (m) => void (m.type === 'round' && seatOf.set(i, { cohort: m.cohort.id, members: m.cohort.members.length })),
  }));
  for (const s of sessions) engine.addSession(s);
  for (const s of sessions) engine.setReady(s.id, true);
  assert.equal(seatOf.size, 5, 'every volunteer is seated');
  const victims = sessions.filter((s) => seatOf.get(s.id)!.members === 3);
  const [attacker, relay] = sessions.filter((s) => seatOf.get(s.id)!.members === 2);
  const victimCohort = seatOf.get(victims[0].id)!.cohort;

  const samples = Math.min(maxSamplesPerReport(run5), run5.inner.steps * run5.inner.batchSize);
  const ownOf = (seed: number) =>
    encodeOwnUpdate(
      run5,
      0,
      new Float32Array(run5.paramCount).map((_, j) => Math.sin(seed * 13 + j) * 1e-3),
      samples,
    );
  const heldOf = (s: Session, u: ReturnType<typeof ownOf>) => ({ address: s.address, hash: u.hash, frame: decodeFrame(u.bytes, peerUpdateLimits(run5, 0)) });
  const vOwn = victims.map((_, i) => ownOf(i + 1));
  const full = cohortAggregate(
    run5,
    0,
    heldOf(victims[0], vOwn[0]),
    victims.slice(1).map((s, i) => heldOf(s, vOwn[i + 1])),
  );
  const rOwn = ownOf(9);
  const relayAgg = cohortAggregate(run5, 0, heldOf(relay, rOwn), []);
  // The copycat: the victims' aggregate scaled by a hair, re-encoded until its hash is lower.
  const fullFrame = decodeFrame(full.bytes, aggregateLimits(run5, 0));
  const aOwn = ownOf(7);
  let copy = cohortAggregate(run5, 0, { address: attacker.address, hash: aOwn.hash, frame: fullFrame }, []);
  for (let k = 1; copy.aggregateHash >= full.aggregateHash; k++) {
    copy = cohortAggregate(
      run5,
      0,
      { address: attacker.address, hash: aOwn.hash, frame: { ...fullFrame, values: fullFrame.values.map((v) => v * (1 + k * 1e-4)) } },
      [],
    );
  }

  // The flood: aggregates no report names, one per seat, then refused; the victims' upload is among the refused.
  const junk = Array.from({ length: 5 }, (_, i) => cohortAggregate(run5, 0, heldOf(attacker, ownOf(100 + i)), []));
  for (const j of junk) assert.equal(await engine.handleAggregate(0, j.bytes), j.aggregateHash);
  await assert.rejects(
    engine.handleAggregate(0, cohortAggregate(run5, 0, heldOf(attacker, ownOf(200)), []).bytes),
    (e: Error & { code?: string }) => e.code === 'LIMIT_EXCEEDED',
  );
  await assert.rejects(engine.handleAggregate(0, full.bytes), (e: Error & { code?: string }) => e.code === 'LIMIT_EXCEEDED' && /report first/.test(e.message));

  const report = async (s: Session, own: { hash: Hex }, agg: { aggregateHash: Hex; hashes: Hex[] }) => {
    return (await reportRound0(engine, run5, s, keys[s.id], { cohort: seatOf.get(s.id)!.cohort, own, agg, samples, nonce: 1n })).id;
  };
  const ids = new Map<Session, number>();
  for (const v of victims) ids.set(v, await report(v, vOwn[victims.indexOf(v)], full));
  ids.set(attacker, await report(attacker, aOwn, { aggregateHash: copy.aggregateHash, hashes: [aOwn.hash] }));
  ids.set(relay, await report(relay, rOwn, relayAgg));
  // Named now: every upload is admitted, the victims' retried one included.
  for (const a of [full, copy, relayAgg]) assert.equal(await engine.handleAggregate(0, a.bytes), a.aggregateHash);
  const s = await summary;

  const rows = new Map(await Promise.all([...ids].map(async ([sess, id]) => [sess, await ledger.contribution(id)] as const)));
  for (const v of victims) assert.deepEqual([rows.get(v)!.state, rows.get(v)!.code], ['accepted', null], `victim in cohort ${victimCohort} is credited`);
  assert.deepEqual(
    [rows.get(attacker)!.state, rows.get(attacker)!.code, rows.get(attacker)!.creditWei],
    ['rejected', 'FOREIGN_AGGREGATE', '0'],
    'the copycat relay is refused',
  );
  assert.deepEqual([rows.get(relay)!.state, rows.get(relay)!.code], ['accepted', null], 'the honest relay beside it is credited');
  assert.equal(s.contributions, 4);
  // The published update is the victims' aggregate and the honest relay's, not the copy's,
  // compressed with the coordinator's (so far zero) error-feedback residual: one frame down.
  const combined = (
    await combineCohorts(
      run5,
      0,
      [full, relayAgg].map((a) => ({ hash: a.aggregateHash, frame: decodeFrame(a.bytes, aggregateLimits(run5, 0)) })),
    )
  ).bytes;
  const down = compressGlobalUpdate(run5, 0, combined, new Float32Array(run5.paramCount));
  assert.deepEqual(await ledger.update(run5.id, 0), down.bytes);
  assert.ok(down.bytes.byteLength < combined.byteLength / 4, `the published update is ${down.bytes.byteLength} bytes, the exact one ${combined.byteLength}`);
  // The residual it leaves is what the ledger keeps with the model (a restart publishes the same frames).
  assert.deepEqual((await ledger.loadRun(run5.id))!.state.residual, down.residual);
});

test(
  'relay and announcement: a frame goes only to the members named, once per member; the first announcement of an uploaded aggregate reaches the cohort',
  { timeout: 60_000 },
  async (t) => {
    const { sql, ledger, theta0 } = await ledgerAtTheta0(run);
    const engine = new RoundEngine(run, theta0, ledger, heldOut, domain, { committed: () => undefined, accountsChanged: () => undefined }, () => NOW);
    t.after(async () => {
      engine.stop();
      await sql.close();
    });
    const inbox = new Map<number, ServerMessage[]>();
    const sessions: Session[] = [0, 1, 2, 3].map((i) => {
      inbox.set(i, []);
      const address = privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as Address;
      return { id: i, address, peerId: `peer-${i}`, ready: false, send: (m) => void inbox.get(i)!.push(m) };
    });
    for (const s of sessions) engine.addSession(s);
    for (const i of [0, 1, 2]) engine.setReady(i, true);
    const [a, b, c] = sessions;
    const outsider = sessions[3];
    const samples = Math.min(maxSamplesPerReport(run), run.inner.steps * run.inner.batchSize);
    const own = encodeOwnUpdate(
      run,
      0,
      new Float32Array(run.paramCount).map((_, j) => Math.sin(j) * 1e-3),
      samples,
    );
    const frame = own.bytes;
    const got = (s: Session, type: ServerMessage['type']) => inbox.get(s.id)!.filter((m) => m.type === type);

    assert.equal(engine.handleRelay(a, { type: 'relay', round: 0, to: [c.address], frame }), 1);
    const relayed = got(c, 'relayed-frame');
    assert.equal(relayed.length, 1);
    assert.deepEqual(relayed[0], { type: 'relayed-frame', round: 0, cohort: 0, from: a.address, frame });
    assert.equal(got(b, 'relayed-frame').length, 0, 'a member not named gets nothing');
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'none';
    };
    assert.equal(
      code(() => engine.handleRelay(a, { type: 'relay', round: 0, to: [b.address], frame: own.bytes })),
      'DUPLICATE',
    );
    assert.equal(
      code(() => engine.handleRelay(b, { type: 'relay', round: 0, to: [outsider.address], frame: own.bytes })),
      'NOT_A_MEMBER',
    );
    assert.equal(
      code(() => engine.handleRelay(outsider, { type: 'relay', round: 0, to: [a.address], frame: own.bytes })),
      'NOT_A_MEMBER',
    );
    assert.equal(
      code(() => engine.handleRelay(b, { type: 'relay', round: 1, to: [a.address], frame: own.bytes })),
      'STALE_ROUND',
    );
    const agg = cohortAggregate(run, 0, { address: a.address, hash: own.hash, frame: decodeFrame(own.bytes, peerUpdateLimits(run, 0)) }, []);
    assert.equal(
      code(() => engine.handleRelay(b, { type: 'relay', round: 0, to: [a.address], frame: agg.bytes })),
      'BAD_FRAME',
      'an aggregate is not an update frame',
    );
    assert.equal(
      code(() => engine.handleRelay(b, { type: 'relay', round: 0, to: [a.address], frame: own.bytes.subarray(0, 20) })),
      'BAD_FRAME',
    );

    const announce = { type: 'announce' as const, round: 0, aggregateHash: agg.aggregateHash, frameHashes: agg.hashes };
    assert.equal(
      code(() => engine.handleAnnounce(a, announce)),
      'NOT_FOUND',
      'an aggregate that was not uploaded cannot be announced',
    );
    await engine.handleAggregate(0, agg.bytes);
    engine.handleAnnounce(a, announce);
    for (const s of [b, c])
      assert.deepEqual(got(s, 'announced'), [
        { type: 'announced', round: 0, cohort: 0, from: a.address, aggregateHash: agg.aggregateHash, frameHashes: agg.hashes },
      ]);
    assert.equal(got(a, 'announced').length, 0, 'not back to the uploader');
    assert.equal(
      code(() => engine.handleAnnounce(b, announce)),
      'DUPLICATE',
      'the first announcement stands',
    );
    assert.equal(got(outsider, 'announced').length + got(outsider, 'relayed-frame').length, 0);
  },
);
