// Issue 17: a round engine takes over a round another engine opened (RoundEngine.resumeRound).
// Engine A opens round 0, journals what it accepts (the in-memory journal stands in for the NATS
// stream), and loses its committer lease; engine B, on the same ledger under the next lease token,
// resumes the round from the journal and commits it. Checked against a run where one engine
// receives the same inputs and commits itself: the same model hash, the same verdicts per
// report; the report A journaled but never wrote to the ledger is written and counted by B; a
// journaled entry whose signature is not its account's is refused; so is one whose session
// certificate is missing, forged (not its device's signature) or was never certified at a hello
// (protocol 6: B re-checks device key → session certificate → report); A's own commit is fenced off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import { cohortAggregate } from '../../shared/round.ts';
import { SessionKeyHolder } from '../../shared/session-key.ts';
import type { RoundSummary } from '../../shared/wire/index.ts';
import { acquireCommitterLease, ensureCommitterLeaseTable, fencedSql, Ledger, releaseCommitterLease } from '../db/index.ts';
import { RoundEngine, type JournaledReport, type RoundJournal, type RoundOpening, type Session } from './engine.ts';
import { certify, domain, engineTestRun, heldOut, ledgerAtTheta0, NOW, round0Frames, signedReport0 } from './engine.fixture.ts';

const run = engineTestRun({ minVolunteers: 3, cohortSize: 3 });
const keys = [generatePrivateKey(), generatePrivateKey(), generatePrivateKey()].map((k) => privateKeyToAccount(k));
const addresses = keys.map((k) => k.address.toLowerCase() as Address);

/** Round 0's inputs, the same for every engine: two members vote the full aggregate, one a partial one. */
function inputs() {
  const { samples, own, held } = round0Frames(run, addresses, 5);
  const full = cohortAggregate(run, 0, held[0], held.slice(1));
  const partial = cohortAggregate(run, 0, held[2], [held[0]]);
  const votes = [full, full, partial];
  const report = (i: number, nonce = BigInt(i + 1), key = keys[i]) => signedReport0(run, key, { cohort: 0, own: own[i], agg: votes[i], samples, nonce });
  return { full, partial, report };
}

/** An engine over `ledger` at θ_0 with the three members' sessions certified (each hello's session key) and ready (round 0 opens), on the clock `now`. */
async function engineWithSessions(ledger: Ledger, theta0: Awaited<ReturnType<typeof ledgerAtTheta0>>['theta0'], now: () => number, journal?: RoundJournal) {
  let committed!: (s: RoundSummary) => void;
  const summary = new Promise<RoundSummary>((r) => (committed = r));
  const theta = { ...theta0, params: theta0.params.slice(), momentum: theta0.momentum.slice() };
  const engine = new RoundEngine(run, theta, ledger, heldOut, domain, { committed: (s) => committed(s), accountsChanged: () => {}, journal }, now);
  const sessions: Session[] = addresses.map((address, i) => ({ id: i, address, peerId: `peer-${i}`, ready: false, send: () => {} }));
  for (const [i, s] of sessions.entries()) await certify(engine, run, s, keys[i]);
  for (const s of sessions) engine.addSession(s);
  for (const s of sessions) engine.setReady(s.id, true);
  return { engine, sessions, summary };
}

/** An in-memory journal: what the engine put on it, in order. */
function memoryJournal() {
  const j = {
    opening: null as RoundOpening | null,
    reports: [] as JournaledReport[],
    aggregates: [] as { hash: Hex; bytes: Uint8Array }[],
    committed: [] as Hex[],
  };
  const journal: RoundJournal = {
    opened: async (o) => void (j.opening = structuredClone(o)),
    report: async (r) => void j.reports.push(structuredClone(r)),
    aggregate: async (_round, hash, bytes) => void j.aggregates.push({ hash, bytes: bytes.slice() }),
    committed: async (_round, hash) => void j.committed.push(hash),
  };
  return { j, journal };
}

test('a resumed round commits the model hash its first engine would have committed, and the deposed engine cannot write', { timeout: 180_000 }, async (t) => {
  let clock = NOW;
  const now = () => clock;
  const { full, partial, report } = inputs();

  // The reference: one engine receives everything and commits itself.
  const ref = await ledgerAtTheta0(run);
  const r = await engineWithSessions(ref.ledger, ref.theta0, now);
  t.after(async () => {
    r.engine.stop();
    await ref.sql.close();
  });
  const refIds: number[] = [];
  for (let i = 0; i < 3; i++) refIds.push((await r.engine.handleReport(r.sessions[i], await report(i))).id);
  await r.engine.handleAggregate(0, partial.bytes);
  await r.engine.handleAggregate(0, full.bytes);
  clock = NOW + run.timing.trainMs;
  await r.engine.commit();
  const expected = await r.summary;
  const refRows = await Promise.all(refIds.map((id) => ref.ledger.contribution(id)));

  // A and B share one ledger; each writes only under its committer lease.
  clock = NOW;
  const shared = await ledgerAtTheta0(run);
  await ensureCommitterLeaseTable(shared.sql);
  const leaseA = (await acquireCommitterLease(shared.sql, run.id, 'host-a:1', 60_000))!;
  const { j, journal } = memoryJournal();
  const a = await engineWithSessions(new Ledger(fencedSql(shared.sql, leaseA)), shared.theta0, now, journal);
  t.after(async () => {
    a.engine.stop();
    await shared.sql.close();
  });
  assert.equal(j.opening?.round, 0, 'the opening is journaled');
  assert.equal(j.opening?.modelHash, shared.theta0.modelHash);
  const ids = [(await a.engine.handleReport(a.sessions[0], await report(0))).id, (await a.engine.handleReport(a.sessions[1], await report(1))).id];
  await a.engine.handleAggregate(0, partial.bytes);
  await a.engine.handleAggregate(0, full.bytes);
  assert.equal(j.reports.length, 2, 'each acknowledged report is journaled');
  assert.deepEqual(
    j.aggregates.map((x) => x.hash),
    [partial.aggregateHash, full.aggregateHash],
  );
  // Member 2's report reached the journal, then A died before writing its ledger row.
  const late = await report(2);
  const certOf = (i: number) => a.sessions[i].sessionKey!.certified;
  assert.deepEqual(
    j.reports.map((x) => x.certificate),
    [certOf(0), certOf(1)],
    'each journaled report carries the session certificate its key was certified with',
  );
  j.reports.push({ round: 0, account: addresses[2], nonce: late.contribution.nonce, receivedAt: clock, message: late, certificate: certOf(2) });
  // A journaled entry whose signature is member 2's, filed under member 0 with member 0's certificate: refused, by name.
  const forged = await report(2, 99n);
  j.reports.push({ round: 0, account: addresses[0], nonce: forged.contribution.nonce, receivedAt: clock, message: forged, certificate: certOf(0) });
  // Member 1's genuine report journaled without its certificate, with one member 0's device signed for member 1's
  // address (forged), and with one member 1's device did sign but no hello ever certified (never kept): each refused, by name.
  const again = await report(1, 70n);
  const entry = (nonce: bigint, certificate: JournaledReport['certificate']) => ({
    round: 0,
    account: addresses[1],
    nonce: nonce.toString(),
    receivedAt: clock,
    message: { ...again, contribution: { ...again.contribution, nonce: nonce.toString() } },
    certificate,
  });
  const grantBy = (signer: (typeof keys)[number]) =>
    new SessionKeyHolder((typed) => signer.signTypedData(typed)).grant(domain, run.id, addresses[1], 'elsewhere', Math.floor(NOW / 1000));
  const forgedCert = await grantBy(keys[0]);
  const unkept = await grantBy(keys[1]);
  j.reports.push(
    entry(70n, null),
    entry(71n, { certificate: forgedCert.certificate, signature: forgedCert.signature }),
    entry(72n, { certificate: unkept.certificate, signature: unkept.signature }),
  );
  assert.equal(await shared.ledger.contributionByNonce(addresses[2], 3n), null, 'member 2 has no ledger row yet');

  // A's lease runs out (it stopped renewing); B takes it with the next token and resumes the round.
  await releaseCommitterLease(shared.sql, leaseA);
  const leaseB = (await acquireCommitterLease(shared.sql, run.id, 'host-b:2', 60_000))!;
  assert.equal(leaseB.token, leaseA.token + 1);
  const ledgerB = new Ledger(fencedSql(shared.sql, leaseB));
  const loaded = (await ledgerB.loadRun(run.id))!;
  let committedB!: (s: RoundSummary) => void;
  const summaryB = new Promise<RoundSummary>((res) => (committedB = res));
  const b = new RoundEngine(run, loaded.state, ledgerB, heldOut, domain, { committed: (s) => committedB(s), accountsChanged: () => {} }, now);
  t.after(() => b.stop());

  // A round at another model is refused.
  await assert.rejects(b.resumeRound({ ...j.opening!, modelHash: `0x${'11'.repeat(32)}` }, j.reports, j.aggregates), /STALE_ROUND|trains from/);
  const resumed = await b.resumeRound(j.opening!, j.reports, j.aggregates);
  assert.equal(resumed.round, 0);
  assert.equal(resumed.reports, 3, 'both reports A wrote and the one it only journaled');
  assert.equal(resumed.aggregates, 2);
  assert.deepEqual(
    resumed.refused.map((x) => [x.account, x.nonce, x.code]).sort((p, q) => Number(p[1]) - Number(q[1])),
    [
      [addresses[1], '70', 'BAD_SIGNATURE'],
      [addresses[1], '71', 'BAD_SIGNATURE'],
      [addresses[1], '72', 'BAD_SIGNATURE'],
      [addresses[0], '99', 'BAD_SIGNATURE'],
    ],
  );
  const prose = new Map(resumed.refused.map((x) => [x.nonce, x.prose]));
  assert.match(prose.get('70')!, /carries no session certificate/);
  assert.match(prose.get('71')!, /journaled session certificate is not signed by/);
  assert.match(prose.get('72')!, /never certified at a hello/);
  assert.match(prose.get('99')!, /not signed by this session's certified key/);
  assert.deepEqual(b.openRound?.cohorts, j.opening!.cohorts, 'the resumed round seats the cohorts A opened');
  clock = NOW + run.timing.trainMs;
  await b.commit();
  const s = await summaryB;
  assert.equal(s.modelHash, expected.modelHash, 'B commits the model hash the inputs determine');
  assert.equal(s.contributions, expected.contributions);
  assert.equal(s.samples, expected.samples);
  assert.equal(b.round, 1);

  const rowC = await shared.ledger.contributionByNonce(addresses[2], 3n);
  assert.ok(rowC, 'B wrote the row of the report A journaled but never recorded');
  const rows = await Promise.all([...ids, rowC.id].map((id) => shared.ledger.contribution(id)));
  assert.deepEqual(
    rows.map((x) => [x!.state, x!.code, x!.creditWei]),
    refRows.map((x) => [x!.state, x!.code, x!.creditWei]),
    'the same verdict for each report as when A commits',
  );
  assert.deepEqual(
    (await shared.ledger.rounds(run.id)).map((x) => [x.round, x.modelHash]),
    [[0, expected.modelHash]],
  );

  // A, deposed but alive, tries to commit the round it opened: fenced, nothing of it lands.
  await assert.rejects(a.engine.commit(), /deposed|LEASE_FENCED/);
  assert.deepEqual(
    (await shared.ledger.rounds(run.id)).map((x) => [x.round, x.modelHash]),
    [[0, expected.modelHash]],
  );
  assert.equal((await shared.ledger.loadRun(run.id))!.state.modelHash, expected.modelHash);
});

test('with a journal, a report the journal refuses is not acknowledged and leaves no ledger row', { timeout: 60_000 }, async (t) => {
  const clock = NOW;
  const { report } = inputs();
  const { sql, ledger, theta0 } = await ledgerAtTheta0(run);
  const journal: RoundJournal = {
    opened: async () => undefined,
    report: async () => {
      throw new Error('nats: timeout');
    },
    aggregate: async () => undefined,
    committed: async () => undefined,
  };
  const e = await engineWithSessions(ledger, theta0, () => clock, journal);
  t.after(async () => {
    e.engine.stop();
    await sql.close();
  });
  await assert.rejects(e.engine.handleReport(e.sessions[0], await report(0)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INTERNAL');
    assert.match(err.message, /round bus did not store this report \(nats: timeout\)/);
    return true;
  });
  assert.equal(await ledger.contributionByNonce(addresses[0], 1n), null, 'no row for a report the bus did not take');
});
