// A round's update rests on enough distinct identities (decide.ts thinBacking): in a round that
// seated three volunteers, one reporter alone (its cohort-mates missed the round, so no
// leave-one-out vote ever saw its frame) is refused NO_QUORUM and the model stays as it was; a
// lone volunteer seated alone still trains. Before the rule the lone reporter's relay frame was
// accepted and applied (the chaos test's round with one contribution and 5.9 % accuracy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { cohortAggregate } from '../../shared/round.ts';
import { backersNeeded, thinBacking } from './decide.ts';
import { engineTestRun, NOW, readyEngine, round0Frames, reportRound0 } from './engine.fixture.ts';

/** Round 0 with `seated` ready volunteers of which only the first reports, its own frame alone (a relay aggregate), uploaded; then the deadline. */
async function loneReporter(seated: number, t: { after(fn: () => Promise<void>): void }) {
  const run = engineTestRun({ minVolunteers: seated, cohortSize: 3 });
  const { ledger, theta0, engine, keys, sessions, summary, clock } = await readyEngine(run, seated, t);
  assert.equal(engine.openRound?.round, 0);
  const lone = sessions.findIndex((s) => s.address === keys[0].address.toLowerCase());
  const { samples, own, held } = round0Frames(run, [sessions[lone].address], 5);
  const relay = cohortAggregate(run, 0, held[0], []);
  const cohort = engine.openRound!.cohorts.findIndex((c) => c.some((m) => m.address === sessions[lone].address));
  const { id } = await reportRound0(engine, run, sessions[lone], keys[0], { cohort, own: own[0], agg: relay, samples, nonce: 1n });
  assert.equal(await engine.handleAggregate(0, relay.bytes), relay.aggregateHash);
  clock.now = NOW + run.timing.trainMs + run.timing.exchangeMs + run.timing.reportMs;
  await engine.commit();
  return { s: await summary, row: await ledger.contribution(id), theta0 };
}

test('a lone reporter in a round that seated three is refused NO_QUORUM and nothing is applied', { timeout: 60_000 }, async (t) => {
  const { s, row, theta0 } = await loneReporter(3, t);
  assert.deepEqual([row!.state, row!.code, row!.creditWei], ['rejected', 'NO_QUORUM', '0']);
  assert.match(row!.reason ?? '', /rest on 1 identity, fewer than the 2/);
  assert.equal(s.contributions, 0);
  assert.equal(s.updateBytes, 0);
  assert.equal(s.modelHash, theta0.modelHash, 'the model is unchanged');
});

test('a lone volunteer seated alone still trains', { timeout: 60_000 }, async (t) => {
  const { s, row, theta0 } = await loneReporter(1, t);
  assert.deepEqual([row!.state, row!.code], ['accepted', null]);
  assert.equal(s.contributions, 1);
  assert.ok(s.updateBytes > 0);
  assert.notEqual(s.modelHash, theta0.modelHash);
});

test('backersNeeded and thinBacking: distinct accounts behind the applied aggregates, capped at the seated', () => {
  const a = '0x00000000000000000000000000000000000000aa' as Address;
  const b = '0x00000000000000000000000000000000000000bb' as Address;
  const h = `0x${'11'.repeat(32)}` as const;
  const cohorts = [[a, b], [a]];
  assert.equal(backersNeeded({}, cohorts, new Set()), 2);
  assert.equal(backersNeeded({}, cohorts, new Set([0])), 1, 'a quarantined cohort is not counted');
  assert.equal(backersNeeded({ minContributors: 5 }, cohorts, new Set()), 3);
  const reports = [
    { id: 1, account: a, cohort: 0, aggregateHash: h },
    { id: 2, account: b, cohort: 0, aggregateHash: h },
  ];
  assert.equal(thinBacking([{ cohort: 0, hash: h }], [{ id: 1 }, { id: 2 }], reports, 2), null);
  assert.deepEqual(
    thinBacking([{ cohort: 0, hash: h }], [{ id: 1 }], reports, 2)?.map((r) => [r.id, r.rejection.code]),
    [[1, 'NO_QUORUM']],
    'one accepted backer of two needed',
  );
  assert.deepEqual(thinBacking([{ cohort: 1, hash: h }], [{ id: 1 }, { id: 2 }], reports, 1), [], 'no backer at all: nothing to refuse, nothing applied');
});
