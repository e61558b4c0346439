// On time is judged at receipt (issue 17, README "Scale"): a report or upload that arrives while
// its round is open counts even when the event loop is held past the deadline, or the ledger
// write is slow, and finishes after the round's timer fired; one that arrives after the round
// closed is refused STALE_ROUND and writes nothing; the commit's wait for in-flight work is
// bounded, and what it stopped waiting for is refused with its row marked, not left pending.
// engine.commit() here is what the report deadline's timer calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { Address } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import { cohortAggregate } from '../../shared/round.ts';
import type { RoundSummary } from '../../shared/wire/index.ts';
import { Ledger, type Sql } from '../db/index.ts';
import type { InFlightWait, Session } from './engine.ts';
import { certify, engineAtTheta0, engineTestRun, ledgerAtTheta0, NOW, round0Frames, signedReport0 } from './engine.fixture.ts';

/** One cohort of `n`, every member's frame, the aggregate of the first `inAggregate` frames, and a report helper. */
async function roundOf(n: number, inAggregate: number, opts: { gate?: () => Promise<void>; inFlightWaitMs?: number } = {}) {
  const run: RunSpec = engineTestRun({ minVolunteers: n, cohortSize: n });
  const { sql, ledger: plain, theta0 } = await ledgerAtTheta0(run);
  // A ledger whose transactions each wait for the gate open at their start: a slow ledger batch.
  const gate = opts.gate;
  const gated: Sql = {
    query: (text, p) => sql.query(text, p),
    exec: (text) => sql.exec(text),
    close: () => sql.close(),
    transaction: async (fn) => {
      await gate?.();
      return sql.transaction(fn);
    },
  };
  const ledger = gate ? new Ledger(gated) : plain;
  let committed!: (s: RoundSummary) => void;
  const summary = new Promise<RoundSummary>((r) => (committed = r));
  const waits: InFlightWait[] = [];
  const engine = engineAtTheta0(
    run,
    { ledger, theta0 },
    { committed: (s) => committed(s), accountsChanged: () => {}, settled: (w) => void waits.push(w) },
    () => NOW,
    opts.inFlightWaitMs,
  );
  const keys = Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()));
  const sessions: Session[] = keys.map((k, i) => ({ id: i, address: k.address.toLowerCase() as Address, peerId: `peer-${i}`, ready: false, send: () => {} }));
  for (const s of sessions) engine.addSession(s);
  for (const s of sessions) engine.setReady(s.id, true);
  assert.equal(engine.openRound?.round, 0);
  const { samples, own, held } = round0Frames(
    run,
    sessions.map((s) => s.address),
    5,
  );
  const agg = cohortAggregate(run, 0, held[0], held.slice(1, inAggregate));
  // Certified and signed up front, so that handing one to the engine is the moment it arrives.
  for (const [i, s] of sessions.entries()) await certify(engine, run, s, keys[i]);
  const signed = await Promise.all(sessions.map((_, i) => signedReport0(run, keys[i], { cohort: 0, own: own[i], agg, samples, nonce: BigInt(i + 1) })));
  const report = (i: number) => engine.handleReport(sessions[i], signed[i]);
  const rowsOf = async (i: number) =>
    (await sql.query<{ id: number }>('select id from contributions where account = $1', [sessions[i].address])).rows.map((r) => Number(r.id));
  return { engine, sql, ledger, agg, report, rowsOf, summary, waits };
}

/** Holds the event loop for `ms`, as a burst of work on it does. */
function holdLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test(
  'reports and an upload in flight when the deadline fires on a held loop are committed; a report after it is refused, unwritten',
  { timeout: 60_000 },
  async (t) => {
    const { engine, sql, ledger, agg, report, rowsOf, summary, waits } = await roundOf(4, 3);
    t.after(async () => {
      engine.stop();
      await sql.close();
    });
    const early = [await report(0), await report(1)].map((r) => r.id);
    // Arrived before the deadline: a report (signature check and ledger write still to come) and the aggregate upload (its decode and hash on the upload thread).
    const inFlight = report(2);
    const upload = engine.handleAggregate(0, agg.bytes);
    // The loop is held past the deadline, and the round's timer fires the moment it is free.
    holdLoop(300);
    const commit = engine.commit();
    // Arrives after the round closed: refused at once, naming why, with nothing written.
    await assert.rejects(report(3), (e: Error & { code?: string }) => e.code === 'STALE_ROUND' && /arrived after the round closed/.test(e.message));
    await assert.rejects(
      engine.handleAggregate(0, agg.bytes),
      (e: Error & { code?: string }) => e.code === 'STALE_ROUND' && /arrived after the round closed/.test(e.message),
    );
    const { id } = await inFlight;
    assert.equal(await upload, agg.aggregateHash);
    await commit;
    const s = await summary;
    assert.equal(s.contributions, 3, 'the two early reports and the one in flight at the deadline are accepted');
    assert.deepEqual(
      (await Promise.all([...early, id].map((x) => ledger.contribution(x)))).map((r) => [r!.state, r!.code]),
      [
        ['accepted', null],
        ['accepted', null],
        ['accepted', null],
      ],
    );
    assert.deepEqual(await rowsOf(3), [], 'the late report left no ledger row');
    assert.equal(waits.length, 1);
    assert.equal(waits[0].waitedFor, 2, 'the commit waited for the report and the upload in flight');
    assert.equal(waits[0].leftOver, 0);
  },
);

test(
  'the wait is bounded: a report whose ledger write outlasts it is refused STALE_ROUND, its row marked rejected, and the round commits',
  { timeout: 60_000 },
  async (t) => {
    let open!: () => void;
    const shut = new Promise<void>((r) => (open = r));
    // The ledger is quick for the first two reports, then slow until open().
    let gate: Promise<void> = Promise.resolve();
    const { engine, sql, ledger, report, rowsOf, summary, waits, agg } = await roundOf(3, 3, { gate: () => gate, inFlightWaitMs: 200 });
    t.after(async () => {
      open();
      engine.stop();
      await sql.close();
    });
    const early = [await report(0), await report(1)].map((r) => r.id);
    assert.equal(await engine.handleAggregate(0, agg.bytes), agg.aggregateHash);
    gate = shut;
    const slow = report(2);
    const outcome = slow.then(
      () => 'recorded',
      (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
    );
    const started = performance.now();
    const commit = engine.commit();
    // The commit gives up on the slow write after its bound, then needs the ledger itself.
    while (waits.length === 0) await new Promise((r) => setTimeout(r, 10));
    const waitedMs = performance.now() - started;
    assert.ok(waitedMs >= 200, `the commit waited its bound (${waitedMs.toFixed(0)} ms)`);
    assert.deepEqual([waits[0].waitedFor, waits[0].leftOver], [1, 1]);
    open();
    await commit;
    assert.match(await outcome, /^STALE_ROUND: round 0 was decided before this report was recorded: it arrived on time, and the commit waited 200 ms/);
    const s = await summary;
    assert.equal(s.contributions, 2);
    assert.deepEqual(
      (await Promise.all(early.map((x) => ledger.contribution(x)))).map((r) => r!.state),
      ['accepted', 'accepted'],
    );
    const [row] = await rowsOf(2);
    const slowRow = await ledger.contribution(row);
    assert.deepEqual([slowRow!.state, slowRow!.code], ['rejected', 'STALE_ROUND'], 'its row is rejected, not left pending');
  },
);
