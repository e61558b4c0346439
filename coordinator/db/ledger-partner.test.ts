// The ledger records which partner widget and which device kind produced each contribution,
// and sums credited work per partner and per device kind (issue 6 items 7 and 9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import type { DeviceKind } from '../../shared/wire/index.ts';
import { openDatabase } from './sql.ts';
import { Ledger } from './ledger.ts';

const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const A = `0x${'a1'.repeat(20)}` as Address;
const B = `0x${'b2'.repeat(20)}` as Address;

async function ledgerWithRows(
  rows: { account: Address; partner: string | null; device: DeviceKind; samples: number; state: 'accepted' | 'pending' | 'rejected' }[],
) {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), 1);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
  const ids: number[] = [];
  for (const [i, r] of rows.entries()) {
    const h = `0x${(i + 1).toString(16).padStart(64, '0')}` as Hex;
    const id = await ledger.insertPending(
      run.id,
      r.account,
      {
        run: 1,
        round: i,
        cohort: 0,
        frameHash: h,
        aggregateHash: h,
        framesRoot: h,
        residualHash: h,
        samples: r.samples,
        steps: 1,
        lossBeforeMicro: 1,
        lossAfterMicro: 1,
        computeMs: 1,
        nonce: BigInt(i + 1),
        expiry: 9_999_999_999n,
        partner: '',
      },
      '0x',
      { partner: r.partner, device: r.device },
    );
    if (r.state === 'accepted')
      await ledger.commitRound({
        runId: run.id,
        summary: {
          round: i,
          modelHash: h,
          committedAt: 0,
          heldOutAccuracy: 0,
          heldOutLoss: 0,
          trainLoss: null,
          contributions: 1,
          samples: r.samples,
          volunteers: 1,
          updateBytes: 0,
        },
        state: { round: i + 1, modelHash: h, params, momentum: new Float32Array(params.length) },
        update: null,
        accepted: [{ id, creditWei: BigInt(r.samples) * 10n }],
        rejected: [],
      });
    if (r.state === 'rejected') await ledger.reject(id, { code: 'NO_QUORUM', prose: 'test' });
    ids.push(id);
  }
  return { sql, ledger, ids };
}

test('partner credit: credited work per partner, largest first; pending, rejected and partner-less rows left out', async () => {
  const { ledger, sql } = await ledgerWithRows([
    { account: A, partner: 'news.example', device: 'webgpu', samples: 100, state: 'accepted' },
    { account: B, partner: 'news.example', device: 'cpu', samples: 50, state: 'accepted' },
    { account: A, partner: 'blog', device: 'webgpu', samples: 300, state: 'accepted' },
    { account: A, partner: 'blog', device: 'webgpu', samples: 999, state: 'rejected' },
    { account: B, partner: 'blog', device: 'webgpu', samples: 999, state: 'pending' },
    { account: B, partner: null, device: 'webgpu', samples: 7, state: 'accepted' },
  ]);
  assert.deepEqual(await ledger.partners(run.id), [
    { partner: 'blog', volunteers: 1, contributions: 1, samples: 300, creditWei: '3000' },
    { partner: 'news.example', volunteers: 2, contributions: 2, samples: 150, creditWei: '1500' },
  ]);
  await sql.close();
});

test('CPU work is recorded as CPU and counted apart in the account summary', async () => {
  const { ledger, ids, sql } = await ledgerWithRows([
    { account: A, partner: null, device: 'cpu', samples: 40, state: 'accepted' },
    { account: A, partner: null, device: 'webgpu', samples: 60, state: 'accepted' },
    { account: A, partner: null, device: 'cpu', samples: 999, state: 'rejected' },
  ]);
  const s = await ledger.accountSummary(A);
  assert.deepEqual(s.byDevice, { cpu: { contributions: 1, samples: 40, creditWei: '400' }, webgpu: { contributions: 1, samples: 60, creditWei: '600' } });
  assert.deepEqual(
    s.recent.map((r) => r.device),
    ['cpu', 'webgpu', 'cpu'],
  );
  const c = await ledger.contribution(ids[0]);
  assert.equal(c?.device, 'cpu');
  assert.equal(c?.state, 'accepted');
  assert.equal(await ledger.contribution(999_999), null);
  await sql.close();
});
