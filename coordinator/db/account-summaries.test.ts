// The batched summaries answer exactly as Ledger.accountSummary does, account by account,
// over contributions in every state, a wallet delegation, a posted epoch and a claim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { openDatabase } from './sql.ts';
import { Ledger } from './ledger.ts';
import { accountSummaries } from './account-summaries.ts';

test('accountSummaries equals accountSummary for each account', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
  const params = initParams(modelOf(run), 1);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
  const acct = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Address;
  const [a, b, c, wallet, idle] = [1, 2, 3, 4, 5].map(acct);
  const now = Math.floor(Date.now() / 1000);
  await ledger.insertDelegation({ wallet, device: c, nonce: 1n, expiry: BigInt(now + 3600) }, '0x');
  let nonce = 0n;
  const states = ['pending', 'accepted', 'verified', 'rejected', 'batched', 'claimable', 'claimed'];
  for (let round = 0; round < 25; round++) {
    for (const [k, who] of [a, b, c].entries()) {
      const h = `0x${(++nonce).toString(16).padStart(64, '0')}` as Hex;
      const id = await ledger.insertPending(
        run.id,
        who,
        {
          run: 1,
          round,
          cohort: 0,
          frameHash: h,
          aggregateHash: h,
          framesRoot: h,
          residualHash: h,
          samples: 10 + k,
          steps: 1,
          lossBeforeMicro: 1,
          lossAfterMicro: 1,
          computeMs: 1,
          nonce,
          expiry: 9_999_999_999n,
          partner: '',
        },
        '0x',
        { beneficiary: who === c ? wallet : who },
      );
      const state = states[(round + k) % states.length];
      await sql.query(`update contributions set state = $2, credit_wei = $3, epoch = $4, reason = $5 where id = $1`, [
        id,
        state,
        (1000 * (round + 1)).toString(),
        ['batched', 'claimable', 'claimed'].includes(state) ? 1 : null,
        state === 'rejected' ? 'NO_QUORUM: test' : null,
      ]);
    }
  }
  await sql.query(
    `insert into epochs (epoch, run_id, round, root, model_hash, total_wei, accounts, tree, tx_hash) values (1, 1, 3, '0x01', '0x02', 100, 2, '{}', '0xabc')`,
  );
  await sql.query(`insert into claims (tx_hash, account, cumulative_wei, epoch) values ('0xdef', $1, 12345, 1)`, [a]);
  const batched = await accountSummaries(sql, [a, b, c, wallet, idle, a], now);
  assert.equal(batched.size, 5);
  for (const who of [a, b, c, wallet, idle]) {
    const one = await ledger.accountSummary(who);
    assert.deepEqual(batched.get(who), one, who);
  }
  assert.equal(batched.get(a)!.claimedWei, '12345');
  assert.equal(batched.get(c)!.wallet, wallet);
  assert.equal(batched.get(a)!.recent.length, 20);
  await sql.close();
});
