import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import { hashParams, initParams, mlpSpec } from '../../shared/model.ts';
import { openDatabase } from './sql.ts';
import { Ledger } from './ledger.ts';
import { runInsights } from './run-insights.ts';

const A = '0x00000000000000000000000000000000000000aa' as Address;
const B = '0x00000000000000000000000000000000000000bb' as Address;
const C = '0x00000000000000000000000000000000000000cc' as Address;
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;

test('run insights: per-round outcomes with stragglers and rejection codes, leaderboard, flagged identities', async () => {
  const sql = await openDatabase({});
  try {
    const ledger = new Ledger(sql);
    const run = runSpecOf(1, { ...DEFAULT_RUN, sizes: [784, 16, 10] }, { name: 'mnist', trainCount: 10, testCount: 10, features: 784, classes: 10 });
    const params = initParams(mlpSpec(run.sizes), 1);
    await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
    let nonce = 0;
    const report = (round: number, account: Address, samples: number) =>
      ledger.insertPending(
        1,
        account,
        {
          run: 1,
          round,
          cohort: 0,
          frameHash: h(++nonce),
          aggregateHash: h(999),
          framesRoot: h(0),
          samples,
          steps: 5,
          lossBeforeMicro: 2e6,
          lossAfterMicro: 1e6,
          computeMs: 10,
          nonce: BigInt(nonce),
          expiry: 9_999_999_999n,
          residualHash: h(0),
        } as never,
        '0x' as Hex,
      );
    const summary = (round: number, volunteers: number, contributions: number) => ({
      round,
      modelHash: h(round),
      committedAt: 1000 * round,
      heldOutAccuracy: 0.5,
      heldOutLoss: 1,
      trainLoss: 1,
      contributions,
      samples: 0,
      volunteers,
      updateBytes: 100,
    });
    // Round 0: 3 seated, A and B report, B is left out by the aggregator; C never reports.
    const a0 = await report(0, A, 100);
    const b0 = await report(0, B, 50);
    await ledger.commitRound({
      runId: 1,
      summary: summary(0, 3, 1),
      state: { round: 1, modelHash: h(1), params, momentum: params },
      update: null,
      accepted: [{ id: a0, creditWei: 100n }],
      rejected: [{ id: b0, rejection: { code: 'LEFT_OUT', prose: 'the cohort aggregate does not include this member' } }],
    });
    // Round 1: 2 seated, both accepted; B's is then spot-checked and fails.
    const a1 = await report(1, A, 100);
    const b1 = await report(1, B, 80);
    await ledger.commitRound({
      runId: 1,
      summary: summary(1, 2, 2),
      state: { round: 2, modelHash: h(2), params, momentum: params },
      update: null,
      accepted: [
        { id: a1, creditWei: 100n },
        { id: b1, creditWei: 80n },
      ],
      rejected: [],
    });
    await ledger.setVerification([a1], 'sampled');
    await ledger.recordCheck(b1, B, { code: 'WORK_MISMATCH', prose: 'far from the re-execution' }, {}, { pass: 1, fail: 5 });
    // The open round 2: reported but not committed, so not in the outcomes.
    await report(2, A, 100);

    const ins = await runInsights(sql, run);
    assert.equal(ins.denseBytes, run.paramCount * 4);
    assert.equal(ins.flopsPerSample, 6 * (784 * 16 + 16 * 10));
    assert.deepEqual(
      ins.outcomes.map((o) => o.round),
      [0, 1],
    );
    assert.deepEqual(ins.outcomes[0], {
      round: 0,
      reports: 2,
      accepted: 1,
      rejected: 1,
      verified: 0,
      failed: 0,
      sampled: 0,
      cohorts: 1,
      stragglers: 1,
      codes: ['LEFT_OUT'],
    });
    const o1 = ins.outcomes[1];
    assert.deepEqual([o1.reports, o1.stragglers, o1.sampled, o1.failed], [2, 0, 1, 1]);
    // B's only accepted contribution failed its spot check (rejected): no accepted work left.
    assert.deepEqual(
      ins.leaderboard.map((l) => [l.account, l.contributions, l.creditWei]),
      [[A, 2, '200']],
    );
    assert.equal(ins.leaderboard[0].samples, 200);
  } finally {
    await sql.close();
  }
});
