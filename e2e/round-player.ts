// Virtual volunteers playing whole rounds against a coordinator, for end-to-end tests:
// each trains on the CPU reference, the first aggregates the cohort's frames and uploads
// the aggregate, every member reports, and all apply the committed update and check its hash.
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import type { Dataset } from '../shared/mlp.ts';
import type { CommittedMsg, RoundMsg, VirtualVolunteer } from './virtual-volunteer.ts';

/** One round with every volunteer in one cohort: the model it started from, and what each saw committed. */
export async function playRound(vs: VirtualVolunteer[], data: Dataset): Promise<{ round: number; parent: Hex; rounds: RoundMsg[]; committed: CommittedMsg[] }> {
  const rounds = await Promise.all(vs.map((v) => v.next('round')));
  for (const r of rounds) assert.equal(r.cohort.members.length, vs.length, 'every volunteer is in the one cohort');
  const updates = await Promise.all(vs.map((v, i) => v.train(rounds[i], data)));
  const agg = vs[0].aggregate(
    rounds[0].round,
    updates.map((u) => u.frame),
  );
  const up = await vs[0].uploadAggregate(rounds[0].round, agg.bytes);
  assert.equal(up.status, 200, await up.clone().text());
  const acks = await Promise.all(vs.map((v, i) => v.report(v.contribution(rounds[i], updates[i], agg), agg.frameHashes)));
  for (const a of acks) assert.equal(a.type, 'ack', JSON.stringify(a));
  const committed = await Promise.all(vs.map((v) => v.next('committed')));
  for (const [i, v] of vs.entries())
    assert.equal(await v.applyCommitted(committed[i]), true, `volunteer ${i} reproduces the model hash of round ${committed[i].round}`);
  for (const r of rounds) assert.equal(r.modelHash, rounds[0].modelHash, 'one parent model for the round');
  return { round: rounds[0].round, parent: rounds[0].modelHash, rounds, committed };
}
