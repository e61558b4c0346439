// Virtual volunteers playing whole rounds against a coordinator, for end-to-end tests:
// each trains on the CPU reference, the first aggregates the cohort's frames and uploads
// the aggregate, every member reports, and all apply the committed update and check its hash.
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import type { Contribution } from '../shared/eip712.ts';
import type { Dataset } from '../shared/mlp.ts';
import type { ServerMessage } from '../shared/wire/index.ts';
import type { CommittedMsg, RoundMsg, VirtualVolunteer } from './virtual-volunteer.ts';

/**
 * One round with every volunteer in one cohort: the model it started from, what each saw
 * committed, and the ack each report got. `signed(i)` changes volunteer i's signed fields (its partner).
 */
export async function playRound(
  vs: VirtualVolunteer[],
  data: Dataset,
  signed: (i: number) => Partial<Contribution> = () => ({}),
): Promise<{ round: number; parent: Hex; rounds: RoundMsg[]; committed: CommittedMsg[]; acks: Extract<ServerMessage, { type: 'ack' }>[] }> {
  const rounds = await Promise.all(vs.map((v) => v.next('round')));
  for (const r of rounds) assert.equal(r.cohort.members.length, vs.length, 'every volunteer is in the one cohort');
  const updates = await Promise.all(vs.map((v, i) => v.train(rounds[i], data)));
  const agg = vs[0].aggregate(
    rounds[0].round,
    updates.map((u) => u.frame),
  );
  const up = await vs[0].uploadAggregate(rounds[0].round, agg.bytes);
  assert.equal(up.status, 200, await up.clone().text());
  const acks = await Promise.all(vs.map((v, i) => v.report(v.contribution(rounds[i], updates[i], agg, signed(i)), agg.frameHashes)));
  for (const a of acks) assert.equal(a.type, 'ack', JSON.stringify(a));
  const committed = await Promise.all(vs.map((v) => v.next('committed')));
  for (const [i, v] of vs.entries())
    assert.equal(await v.applyCommitted(committed[i]), true, `volunteer ${i} reproduces the model hash of round ${committed[i].round}`);
  for (const r of rounds) assert.equal(r.modelHash, rounds[0].modelHash, 'one parent model for the round');
  return { round: rounds[0].round, parent: rounds[0].modelHash, rounds, committed, acks: acks as Extract<ServerMessage, { type: 'ack' }>[] };
}
