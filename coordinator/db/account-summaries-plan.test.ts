// A hello's summary and the account push read each asked-for account through its indexes: the
// rows the database examines follow the accounts asked for, not the ledger's size. Counted from
// EXPLAIN ANALYZE (rows returned and rows filtered away at every scan of contributions, claims and
// delegations), not timed. Before: the newest-rows statement walked the primary key backwards
// past every other account's rows, and the push's `= any($1)` statements scanned the whole table
// once per slice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import type { Sql } from './sql.ts';
import { Ledger } from './ledger.ts';
import { accountSummaries } from './account-summaries.ts';
import { LEDGER_BACKENDS } from './test-databases.ts';

const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const acct = (i: number) => `0x${i.toString(16).padStart(40, '0')}` as Address;
const TABLES = new Set(['contributions', 'claims', 'delegations']);

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Rows a plan's scans of the ledger's per-account tables examined: returned plus filtered away, over every loop. */
function rowsExamined(node: PlanNode): number {
  const loops = node['Actual Loops'] ?? 1;
  const own = TABLES.has(node['Relation Name'] ?? '')
    ? loops * ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0))
    : 0;
  return own + (node.Plans ?? []).reduce((s, p) => s + rowsExamined(p), 0);
}

/** `sql` whose every read is also EXPLAIN ANALYZEd; examined() is the rows its scans examined so far. */
function counting(sql: Sql): { sql: Sql; examined(): number } {
  let total = 0;
  const wrapped: Sql = {
    ...sql,
    async query(text, params) {
      if (/^\s*(select|with)\b/i.test(text)) {
        const { rows } = await sql.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] | string }>(`explain (analyze, format json) ${text}`, params);
        const plan = rows[0]['QUERY PLAN'];
        total += rowsExamined((typeof plan === 'string' ? JSON.parse(plan) : plan)[0].Plan);
      }
      return sql.query(text, params);
    },
  };
  return { sql: wrapped, examined: () => total };
}

/** A ledger of `n` accounts with one contribution each, every tenth rejected, the rest in a posted epoch (as the scale harness leaves it). */
async function filledLedger(sql: Sql, n: number): Promise<void> {
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), 1);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
  await sql.query(
    `insert into contributions (run_id, round, cohort, account, beneficiary, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after,
                                compute_ms, nonce, expiry, signature, state, credit_wei, verification)
     select 1, 0, i / 8, '0x' || lpad(to_hex(i), 40, '0'), '0x' || lpad(to_hex(i), 40, '0'), 'h', 'h', 10, 1, 1, 1, 1, i, 9999999999, '0x',
            case when i % 10 = 0 then 'rejected' else 'accepted' end, 1000, 'skipped'
     from generate_series(1, $1::int) i`,
    [n],
  );
  const { rows } = await sql.query<{ id: number }>(`select id::int as id from contributions where state = 'accepted'`);
  await ledger.openEpoch({
    epoch: 1,
    runId: run.id,
    round: 0,
    root: '0x01',
    modelHash: '0x02',
    totalWei: 1n,
    accounts: rows.length,
    tree: {},
    ids: rows.map((r) => r.id),
  });
  await ledger.epochPosted(1, `0x${'ab'.repeat(32)}`);
}

for (const backend of LEDGER_BACKENDS) {
  test(`${backend.name}: a hello and an account push examine rows per account asked for, not per account in the ledger`, { skip: backend.skip }, async () => {
    const sql = await backend.open();
    try {
      // Large enough that PGlite (no statistics: it guesses 0.5 % of the rows per account) planned
      // the old newest-rows statement as a walk down the primary key (it still chose the indexes at 12,000).
      const n = 25_000;
      await filledLedger(sql, n);
      const asked = [1, 2, 3, 999, 1500, 2999].map(acct);
      const one = counting(sql);
      for (const a of asked) await new Ledger(one.sql).accountSummary(a);
      // Each account has one row; its indexes hold three versions of it (accepted, batched, claimable).
      assert.ok(one.examined() <= 20 * asked.length, `${asked.length} hellos examined ${one.examined()} rows of a ${n}-account ledger`);
      const push = counting(sql);
      const slice = Array.from({ length: 300 }, (_, i) => acct(1 + i * 10));
      const out = await accountSummaries(push.sql, slice, 0);
      assert.equal(out.size, slice.length);
      assert.ok(push.examined() <= 20 * slice.length, `a push of ${slice.length} accounts examined ${push.examined()} rows of a ${n}-account ledger`);
    } finally {
      await sql.close();
    }
  });
}

test('the newest rows of a summary are those the single `beneficiary or account` statement returned', async () => {
  const sql = await LEDGER_BACKENDS[0].open();
  try {
    const ledger = new Ledger(sql);
    const params = initParams(modelOf(run), 1);
    await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
    const [a, device, wallet] = [1, 2, 3].map(acct);
    // a earns for itself; device reports for itself and for wallet, interleaved, more than 20 rows each.
    await sql.query(
      `insert into contributions (run_id, round, cohort, account, beneficiary, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after,
                                  compute_ms, nonce, expiry, signature, state, epoch)
       select 1, i, 0, (array[$1, $2, $2])[i % 3 + 1], case when i % 3 = 0 then $1 when i % 2 = 0 then $3 else $2 end, 'h', 'h', 1, 1, 1, 1, 1, i, 9999999999, '0x',
              (array['claimed', 'rejected', 'accepted', 'claimable'])[i % 4 + 1], case when i % 4 in (0, 3) then 1 + i % 2 end
       from generate_series(0, 59) i`,
      [a, device, wallet],
    );
    await sql.query(`insert into claims (tx_hash, account, cumulative_wei, epoch) values ('0x0c1', $1, 5, 1), ('0x0c2', $1, 9, 2), ('0x0c3', $2, 7, 2)`, [
      a,
      wallet,
    ]);
    for (const who of [a, device, wallet, acct(4)]) {
      const { rows: before } = await sql.query(
        `select c.id::int as id, c.round, c.state, c.reason_code as code, c.reason, c.samples, c.epoch, c.beneficiary, c.verification, c.device_kind as device, c.partner,
                (select k.tx_hash from claims k where k.account = c.beneficiary and k.epoch >= c.epoch and c.state = 'claimed' order by k.epoch limit 1) as "claimTx"
         from contributions c where c.beneficiary = $1 or c.account = $1 order by c.id desc limit 20`,
        [who],
      );
      const now = (await ledger.accountSummary(who)).recent;
      assert.deepEqual(now, before, who);
      assert.equal(now.length, who === acct(4) ? 0 : 20, who);
    }
  } finally {
    await sql.close();
  }
});
