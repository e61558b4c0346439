// The round desk (round-desk.ts) decides what the engine decided on its event loop before: one
// mixed round — an honest cohort with a member its uploader left out, a relay beside a cohort
// whose aggregate was never uploaded and a member that never reported, a split cohort, and a
// cohort whose (empty) aggregate the combine refuses — through the engine with the desk on its
// aggregation thread, and again with that thread stopped (the desk in place, fed from the round
// the engine holds). Both give the verdicts, refusal reasons and model hash that the engine's
// previous in-loop path gave on the same round: OLD_PATH, recorded by running this file's round
// on main at d3fe2d7 (before the desk: ROUND_DESK_PRINT=1 prints it), reading the same rows. The
// round's keys are fixed, so its seating, rows, frames and model are the same on every run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import { keccak256, stringToHex, type Address, type Hex } from 'viem';
import { encodeAggregate } from '../../shared/codec.ts';
import { cohortAggregate } from '../../shared/round.ts';
import { RoundEngine, type Session } from './engine.ts';
import { domain, engineAtTheta0, engineTestRun, heldOut, ledgerAtTheta0, NOW, round0Frames, reportRound0 } from './engine.fixture.ts';

const run = engineTestRun({ minVolunteers: 16, cohortSize: 4, globalUpdate: 'exact' });

/** The old path's outcome of mixedRound (see the top of this file): a digest of every row's verdict, the counts per code, the model hash. */
const OLD_PATH = {
  verdicts: '0x8e5a7464957bf1a5997cde27c8a74ad6a42f2d234d31d0ba0b548b5c41c165b3',
  codes: { accepted: 4, LEFT_OUT: 1, AGGREGATE_MISSING: 2, NO_QUORUM: 4, COMBINE_REFUSED: 4 } as Record<string, number>,
  modelHash: '0x3e3d67fe978da12b33749319c94e91f58678d7a9adf09362e581216626c3e1bb' as Hex,
};

async function mixedRound(t: { after(fn: () => Promise<void>): void }, desk: 'thread' | 'in place' | 'process') {
  const { sql, ledger, theta0 } = await ledgerAtTheta0(run);
  const clock = { now: NOW };
  const events = { committed: () => {}, accountsChanged: () => {} };
  const engine =
    desk === 'process'
      ? new RoundEngine(
          run,
          { ...theta0, params: theta0.params.slice(), momentum: theta0.momentum.slice() },
          ledger,
          heldOut,
          domain,
          events,
          () => clock.now,
          undefined,
          'process',
        )
      : engineAtTheta0(run, { ledger, theta0 }, events, () => clock.now);
  t.after(async () => {
    engine.stop();
    await sql.close();
  });
  // The aggregation thread stopped before the round: the desk runs in place at the commit.
  if (desk === 'in place') (engine as unknown as { combiner: { stop(): void } }).combiner.stop();
  const keys = Array.from({ length: 16 }, (_, i) => privateKeyToAccount(keccak256(stringToHex(`round-desk-${i}`))));
  const seats = new Map<number, { cohort: number }>();
  const sessions: Session[] = keys.map((k, i) => ({
    id: i,
    address: k.address.toLowerCase() as Address,
    peerId: `peer-${i}`,
    ready: false,
    send: (m) => void (m.type === 'round' && seats.set(i, { cohort: m.cohort.id })),
  }));
  for (const s of sessions) engine.addSession(s);
  for (const s of sessions) engine.setReady(s.id, true);
  assert.equal(seats.size, 16, 'every volunteer is seated');
  const cohorts = [0, 1, 2, 3].map((c) => sessions.filter((s) => seats.get(s.id)!.cohort === c).sort((a, b) => a.id - b.id));
  assert.deepEqual(
    cohorts.map((c) => c.length),
    [4, 4, 4, 4],
  );
  const { samples, own, held } = round0Frames(
    run,
    sessions.map((s) => s.address),
    0.7,
  );
  const ids: number[] = [];
  const report = async (s: Session, agg: { aggregateHash: Hex; hashes: Hex[] }) =>
    ids.push((await reportRound0(engine, run, s, keys[s.id], { cohort: seats.get(s.id)!.cohort, own: own[s.id], agg, samples, nonce: 1n })).id);
  const uploads: Uint8Array[] = [];

  // Cohort 0: three members' aggregate, signed by all four (the fourth is LEFT_OUT).
  const [a0, a1, a2, a3] = cohorts[0];
  const honest = cohortAggregate(run, 0, held[a0.id], [held[a1.id], held[a2.id]]);
  uploads.push(honest.bytes);
  for (const s of [a0, a1, a2, a3]) await report(s, honest);
  // Cohort 1: a relay of its own frame; two sign an aggregate never uploaded; one never reports.
  const [b0, b1, b2] = cohorts[1];
  const relay = cohortAggregate(run, 0, held[b0.id], []);
  uploads.push(relay.bytes);
  await report(b0, relay);
  const missing = cohortAggregate(run, 0, held[b1.id], [held[b2.id]]);
  for (const s of [b1, b2]) await report(s, missing);
  // Cohort 2: split two and two (no quorum), both aggregates uploaded.
  const [c0, c1, c2, c3] = cohorts[2];
  const left = cohortAggregate(run, 0, held[c0.id], [held[c1.id]]);
  const right = cohortAggregate(run, 0, held[c2.id], [held[c3.id]]);
  uploads.push(left.bytes, right.bytes);
  for (const s of [c0, c1]) await report(s, left);
  for (const s of [c2, c3]) await report(s, right);
  // Cohort 3: an empty aggregate of all four frames, which the combine refuses.
  const d = cohorts[3];
  const empty = encodeAggregate(new Float32Array(run.paramCount), run.codec.chunkSize, {
    paramTableHash: run.paramTableHash,
    run: run.id,
    round: 0,
    samples: samples * 4,
  });
  uploads.push(empty);
  const emptyHash = await engine.handleAggregate(0, empty);
  for (const s of d) await report(s, { aggregateHash: emptyHash, hashes: d.map((m) => held[m.id].hash).sort() });
  for (const u of uploads.slice(0, -1)) await engine.handleAggregate(0, u);
  clock.now += 3_600_000;
  await engine.commit();

  const rows = await Promise.all(ids.map((id) => ledger.contribution(id)));
  const verdicts = rows.map((r) => ({ id: r!.id, account: r!.account, state: r!.state, code: r!.code, reason: r!.reason, creditWei: r!.creditWei }));
  const codes: Record<string, number> = {};
  for (const v of verdicts) codes[v.code ?? v.state] = (codes[v.code ?? v.state] ?? 0) + 1;
  return { verdicts: keccak256(stringToHex(JSON.stringify(verdicts))), codes, modelHash: engine.modelHash, rows: verdicts };
}

const MODES = [
  ['thread', 'on its aggregation thread'],
  ['in place', 'in place on the event loop (its thread stopped)'],
  ['process', "with the combine in a child process of their own (the scale harness's aggregation role)"],
] as const;

for (const [mode, where] of MODES)
  test(`the round desk ${where} gives the old path's verdicts, reasons and model hash on a mixed round`, { timeout: 60_000 }, async (t) => {
    const said: string[] = [];
    t.mock.method(console, 'error', (...a: unknown[]) => void said.push(a.join(' ')));
    const out = await mixedRound(t, mode);
    if (process.env.ROUND_DESK_PRINT) console.log(JSON.stringify(out, null, 1));
    // Only the stopped thread's round falls back to the event loop.
    if (mode === 'in place')
      assert.ok(
        said.some((m) => /round desk: .*deciding round 0 on the event loop/.test(m)),
        `the desk ran in place: ${said.join(' | ')}`,
      );
    else assert.deepEqual(said, [], 'nothing fell back to the event loop');
    assert.deepEqual({ verdicts: out.verdicts, codes: out.codes, modelHash: out.modelHash }, OLD_PATH);
  });
