// The credit rule in the ledger (coordinator/verify/settings.ts, issue 14): an accepted row's
// credit is payable only after its vesting round has committed; a failed check claws back all
// of the identity's credit not yet in an epoch (CLAWED_BACK, nothing half-written); rows
// already in a posted epoch are left alone; other identities are untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { openDatabase } from './sql.ts';
import { Ledger } from './ledger.ts';

const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const cheat = `0x${'c1'.repeat(20)}` as Address;
const honest = `0x${'b1'.repeat(20)}` as Address;
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
const W = 3;
const CREDIT = 1000n;

/** A fresh ledger with one run and `round(r)`: both identities contribute, accepted, not sampled, vesting at r + W. */
async function ledgerWithRounds() {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), 7);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
  const ids: Record<string, number[]> = { [cheat]: [], [honest]: [] };
  let nonce = 1n;
  // One round: both identities contribute, accepted, not sampled (paid like unsampled work once vested).
  const round = async (r: number) => {
    const now: number[] = [];
    for (const account of [cheat, honest]) {
      const id = await ledger.insertPending(
        run.id,
        account,
        {
          run: 1,
          round: r,
          cohort: 0,
          frameHash: h(r * 10 + 1),
          aggregateHash: h(2),
          framesRoot: h(3),
          residualHash: h(4),
          samples: 32,
          steps: 1,
          lossBeforeMicro: 2_300_000,
          lossAfterMicro: 2_100_000,
          computeMs: 12,
          nonce: nonce++,
          expiry: 9_999_999_999n,
          partner: '',
        },
        '0x01',
      );
      ids[account].push(id);
      now.push(id);
    }
    await ledger.commitRound({
      runId: run.id,
      summary: {
        round: r,
        modelHash: h(900 + r),
        committedAt: 1_790_000_000_000 + r,
        heldOutAccuracy: 0.5,
        heldOutLoss: 1.5,
        trainLoss: null,
        contributions: 2,
        samples: 64,
        volunteers: 2,
        updateBytes: 0,
      },
      state: { round: r + 1, modelHash: h(900 + r), params, momentum: new Float32Array(params.length) },
      update: null,
      accepted: now.map((id) => ({ id, creditWei: CREDIT })),
      rejected: [],
      vestsRound: r + W,
    });
    await ledger.setVerification(now, 'skipped');
  };
  const payable = async () => Object.fromEntries((await ledger.cumulativeCredit()).map((c) => [c.account, c.cumulative]));
  const pass = async (account: Address, id: number) => {
    await ledger.setVerification([id], 'sampled');
    assert.equal(await ledger.recordCheck(id, account, null, { ms: 1 }, { pass: 1, fail: 10 }), 0);
  };
  return { sql, ledger, ids, round, payable, pass };
}

test(
  'vesting and clawback: epochs pay only vested credit; a failed check takes back all unbatched credit of that identity only',
  { timeout: 60_000 },
  async (t) => {
    const { sql, ledger, ids, round, payable, pass } = await ledgerWithRounds();
    t.after(() => sql.close());

    for (let r = 0; r < W; r++) await round(r);
    assert.deepEqual(await payable(), {}, `nothing vests before round ${W} has committed`);
    await round(W);
    assert.deepEqual(await payable(), {}, 'round 0 + W has committed, but no check of round 0 or later has passed yet');
    // A passed check of each identity's round-W row: round 0 (vests_round W, committed) vests.
    for (const account of [cheat, honest]) await pass(account, ids[account][W]);
    assert.deepEqual(await payable(), { [cheat]: CREDIT, [honest]: CREDIT }, 'round 0 vests once round 0 + W has committed and a later check passed');

    // An epoch takes exactly the vested rows; the rest stay accepted.
    const { credit, ids: batched } = await ledger.epochCredit();
    assert.deepEqual(batched.sort(), [ids[cheat][0], ids[honest][0]].sort());
    await ledger.openEpoch({
      epoch: 1,
      runId: run.id,
      round: W,
      root: h(77),
      modelHash: h(900 + W),
      totalWei: 2n * CREDIT,
      accounts: 2,
      tree: {},
      ids: batched,
    });
    await ledger.epochPosted(1, h(78));
    assert.equal(credit.length, 2);

    // Two more rounds, then a failed check of the cheat's newest row: every other unbatched row of its is clawed back.
    await round(W + 1);
    await round(W + 2);
    const failed = ids[cheat].at(-1)!;
    await ledger.setVerification([failed], 'sampled');
    const clawed = await ledger.recordCheck(
      failed,
      cheat,
      { code: 'WORK_MISMATCH', prose: 'the update differs from re-executing the claimed steps' },
      { ms: 1 },
      { pass: 1, fail: 10 },
    );
    assert.equal(clawed, W + 1, 'rounds 1 … W+1 of the cheat, vested or not, were not yet in an epoch');
    const states = async (account: Address) =>
      Promise.all(
        ids[account].map(async (id) => {
          const c = (await ledger.contribution(id))!;
          return [c.state, c.code];
        }),
      );
    assert.deepEqual(await states(cheat), [
      ['claimable', null],
      ...Array.from({ length: W + 1 }, () => ['rejected', 'CLAWED_BACK']),
      ['rejected', 'WORK_MISMATCH'],
    ]);
    assert.ok((await ledger.contribution(ids[cheat][1]))!.reason!.includes(`contribution ${failed} failed`), 'the clawback names the failed check');
    assert.ok(
      (await states(honest)).every(([s]) => s !== 'rejected'),
      'another identity keeps everything',
    );
    const after = await payable();
    assert.equal(after[cheat], CREDIT, 'the cheat keeps only what a posted epoch already paid');
    assert.equal(after[honest], 3n * CREDIT, 'the honest identity: epoch 1 plus rounds 1 and 2, vested');
    assert.equal((await ledger.identity(cheat)).reputation, 1 - 10, 'one pass, then one failure');
  },
);

test(
  'vesting needs a later passed check: without one a row vests only at round + 2W, and a check vests only what came before it',
  { timeout: 60_000 },
  async (t) => {
    const { sql, ledger, ids, round, payable, pass } = await ledgerWithRounds();
    t.after(() => sql.close());
    // Rounds 0 … 2W − 1 committed: the honest identity passes a check of its round-1 row; the other is never checked.
    for (let r = 0; r < 2 * W; r++) {
      await round(r);
      if (r === 1) await pass(honest, ids[honest][1]);
    }
    // Committed through round 2W − 1: rows 0 and 1 of the checked identity vest (round + W committed, a check at or after them passed);
    // rows 2 … W − 1 of it have vested by round but not by check; the unchecked identity has nothing yet (round 0 + 2W not committed).
    assert.deepEqual(await payable(), { [honest]: 2n * CREDIT });
    // What the volunteer page shows (AccountSummary): vested credit waiting for an epoch, and the rest still vesting.
    const { vestedWei, vestingWei } = await ledger.accountSummary(honest);
    assert.deepEqual({ vestedWei, vestingWei }, { vestedWei: (2n * CREDIT).toString(), vestingWei: (BigInt(2 * W - 2) * CREDIT).toString() });
    await round(2 * W);
    assert.deepEqual(
      await payable(),
      { [cheat]: CREDIT, [honest]: 2n * CREDIT },
      "round 0 + 2W committed: the unchecked identity's round 0 vests without a check",
    );
    await round(2 * W + 1);
    assert.deepEqual(await payable(), { [cheat]: 2n * CREDIT, [honest]: 2n * CREDIT });
    await round(2 * W + 2);
    assert.deepEqual(
      await payable(),
      { [cheat]: 3n * CREDIT, [honest]: 3n * CREDIT },
      "the checked identity's round 2 (after its check) also waits for round + 2W",
    );
  },
);
