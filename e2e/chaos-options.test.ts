import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chaosOptionsOf, lostRows, pagesFor, voteRounds, type AttackerLedger } from './chaos.ts';

test('chaos options: validated against the swarm size, each error names its option', () => {
  assert.deepEqual(chaosOptionsOf({ byzantine: '1', attack: 'sign-flip', churn: '0.25', killCoordinatorAt: '3', offline: '0.5' }, 4), {
    byzantine: 1,
    attack: 'sign-flip',
    churn: 0.25,
    churnEvents: null,
    killCoordinatorAt: 3,
    offline: 0.5,
  });
  assert.throws(() => chaosOptionsOf({ byzantine: '4', attack: 'sign-flip' }, 4), /--byzantine/);
  assert.throws(() => chaosOptionsOf({ byzantine: '1', attack: 'alie' }, 4), /--attack: expected one of sign-flip/);
  assert.throws(() => chaosOptionsOf({ attack: 'noise' }, 4), /--attack needs --byzantine/);
  assert.throws(() => chaosOptionsOf({ churn: '1.5' }, 4), /--churn/);
  assert.throws(() => chaosOptionsOf({ killCoordinatorAt: '-1' }, 4), /--kill-coordinator-at/);
  assert.equal(pagesFor(0.1, 3), 1);
  assert.equal(pagesFor(0, 3), 0);
  assert.deepEqual(lostRows(new Set(['a@1', 'b@1', 'c@1']), { settled: new Set(['a@1', 'a@2']), awaitingCheck: new Set(['c@1']) }), ['b@1']);
});

test('voteRounds: only committed single-cohort rounds of ≥ 3 reports whose aggregate won; refused at commit or not', () => {
  const attacker = (rows: AttackerLedger['rows']): AttackerLedger => ({
    account: '0x00000000000000000000000000000000000000aa',
    creditWei: '0',
    epochCreditWei: '0',
    contributions: { pending: 0, accepted: 0, verified: 0, batched: 0, claimable: 0, claimed: 0, rejected: rows.length },
    codes: [],
    rows,
  });
  const a = attacker([
    { round: 0, state: 'rejected', code: 'LEFT_OUT' },
    { round: 1, state: 'rejected', code: 'WORK_MISMATCH' },
    { round: 2, state: 'rejected', code: 'LEFT_OUT' },
    { round: 3, state: 'rejected', code: 'ROUND_ABORTED' },
    { round: 4, state: 'rejected', code: 'NO_QUORUM' },
  ]);
  const outcome = (round: number, reports: number, cohorts = 1, codes: ('LEFT_OUT' | 'ROUND_ABORTED')[] = []) => ({ round, reports, cohorts, codes });
  const got = voteRounds(
    [a],
    [outcome(0, 3), outcome(1, 4), outcome(2, 2), outcome(3, 4, 1, ['ROUND_ABORTED']), outcome(4, 3, 2)],
    [0, 1, 2, 3, 4].map((round) => ({ round, contributions: 3 })),
  );
  assert.deepEqual(
    got.map((v) => [v.round, v.code, v.refusedAtCommit]),
    [
      [0, 'LEFT_OUT', true],
      [1, 'WORK_MISMATCH', false],
    ],
    'round 2 had 2 reports, round 3 an aborted attempt, round 4 two cohorts',
  );
  assert.deepEqual(voteRounds([a], [outcome(0, 3)], [{ round: 0, contributions: 1 }]), [], 'no winning aggregate of ≥ 2: the vote did not decide');
});
