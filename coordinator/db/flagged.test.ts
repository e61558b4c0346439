// The dashboard's flagged list, on an in-memory PGlite ledger: refusals by code (reason_code), and
// only identities at fault for their own refusals are listed, with the credit they kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zeroHash, type Address, type Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import type { Contribution } from '../../shared/eip712.ts';
import { openDatabase } from './sql.ts';
import { Ledger } from './ledger.ts';
import { flaggedSummary } from './flagged.ts';

const run = runSpecOf(1, { ...DEFAULT_RUN, sizes: [4, 2] }, { name: 'mnist', trainCount: 10, testCount: 10, features: 4, classes: 2 });
const addr = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Address;

test('refusals are counted by code; the identities at fault are listed with their reputation and credit', async () => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const params = new Float32Array(run.paramCount);
  await ledger.createRun(run, { round: 0, modelHash: zeroHash, params, momentum: params });
  const row = async (account: Address, n: bigint) => {
    const c: Contribution = {
      run: run.id,
      round: 0,
      cohort: 0,
      frameHash: zeroHash,
      aggregateHash: zeroHash,
      framesRoot: zeroHash,
      residualHash: zeroHash,
      samples: 32,
      steps: 1,
      lossBeforeMicro: 1,
      lossAfterMicro: 1,
      computeMs: 1,
      nonce: n,
      expiry: 9_999_999_999n,
      partner: '',
    };
    return ledger.insertPending(run.id, account, c, '0x' as Hex);
  };
  const accept = (id: number) => sql.query(`update contributions set state = 'accepted', credit_wei = 1000 where id = $1`, [id]);
  // 1: honest, accepted. 2: failed a spot check. 3: left out by the aggregator. 4: an interrupted round (nobody's fault).
  await accept(await row(addr(1), 1n));
  const cheat = await row(addr(2), 2n);
  await accept(cheat);
  await ledger.recordCheck(cheat, addr(2), { code: 'WORK_MISMATCH', prose: 'far from the reference' }, {}, { pass: 1, fail: 10 });
  await ledger.reject(await row(addr(3), 3n), { code: 'LEFT_OUT', prose: 'refused by the aggregator' });
  await ledger.reject(await row(addr(4), 4n), { code: 'ROUND_ABORTED', prose: 'the coordinator restarted' });
  const f = await flaggedSummary(sql, run.id);
  assert.deepEqual(f.rejections, { WORK_MISMATCH: 1, LEFT_OUT: 1, ROUND_ABORTED: 1 });
  assert.equal(f.uncoded, 0);
  assert.deepEqual(
    f.identities.map((i) => [i.account, i.reputation, i.checksFailed, i.refused, i.creditWei]),
    [
      [addr(2), -10, 1, 1, '0'],
      [addr(3), 0, 0, 1, '0'],
    ],
  );
  assert.deepEqual(
    f.identities.map((i) => [i.lastCode, i.lastReason]),
    [
      ['WORK_MISMATCH', 'far from the reference'],
      ['LEFT_OUT', 'refused by the aggregator'],
    ],
  );
  await sql.close();
});
