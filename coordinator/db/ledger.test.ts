// The ledger on both backends (PGlite, and PostgreSQL when IDLEGRAD_TEST_DATABASE_URL is
// set): the same migrations, and the values that differ between drivers (bytea, int8,
// numeric, jsonb) read back alike; replays refused by the unique key; one epoch at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { isIdlegradError } from '../../shared/errors.ts';
import { parseAccountSummary, parseContributionDetail } from '../../shared/wire/index.ts';
import { contributionTimeline } from '../../shared/timeline.ts';
import { MIGRATIONS } from './migrations.ts';
import { migrate, openDatabase, type Sql } from './sql.ts';
import { Ledger } from './ledger.ts';
import { accountSummaries } from './account-summaries.ts';
import { flaggedSummary } from './flagged.ts';
import { insertInlineRun, LEDGER_BACKENDS } from './test-databases.ts';

const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const alice = `0x${'a1'.repeat(20)}` as Address;
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
const contribution = (nonce: bigint, round = 0) => ({
  run: 1,
  round,
  cohort: 0,
  frameHash: h(1),
  aggregateHash: h(2),
  framesRoot: h(3),
  residualHash: h(4),
  samples: 32,
  steps: 1,
  lossBeforeMicro: 2_300_000,
  lossAfterMicro: 2_100_000,
  computeMs: 12,
  nonce,
  expiry: 9_999_999_999n,
  partner: '',
});
/** A report row as the ledger wrote it before issue 14's signed-fields migration (no frames root, no signed partner). */
const insertOldRow = async (sql: Sql, nonce: bigint): Promise<number> =>
  Number(
    (
      await sql.query<{ id: number }>(
        `insert into contributions (run_id, round, cohort, account, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after, compute_ms, nonce, expiry, signature, state, beneficiary)
         values (1, 0, 0, $1, $2, $3, 32, 1, 2.3, 2.1, 12, $4, 9999999999, '0x01', 'pending', $1) returning id`,
        [alice, h(1), h(2), nonce.toString()],
      )
    ).rows[0].id,
  );

for (const backend of LEDGER_BACKENDS) {
  test(`${backend.name}: migrations, a round, an epoch and a claim read back alike`, { timeout: 60_000, skip: backend.skip }, async (t) => {
    const sql = await backend.open();
    t.after(() => sql.close());
    const versions = (await sql.query<{ version: number }>('select version from schema_migrations order by version')).rows.map((r) => r.version);
    assert.deepEqual(
      versions,
      MIGRATIONS.map((_, i) => i),
    );

    const ledger = new Ledger(sql);
    const params = initParams(modelOf(run), 7);
    const momentum = new Float32Array(params.length).fill(0.25);
    await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum });
    const loaded = (await ledger.loadRun(run.id))!;
    assert.deepEqual(loaded.spec, run, 'jsonb spec');
    assert.equal(loaded.state.modelHash, hashParams(params));
    assert.equal(hashParams(loaded.state.params), hashParams(params), 'bytea params, bit for bit');
    assert.deepEqual(loaded.state.momentum, momentum);

    // A report, then the same nonce again: refused by name, one row.
    const nonce = 2n ** 63n + 5n; // past int8: numeric(20,0)
    const id = await ledger.insertPending(run.id, alice, contribution(nonce), '0x01');
    assert.equal(typeof id, 'number');
    assert.equal(await ledger.nonceUsed(alice, nonce), true);
    await assert.rejects(ledger.insertPending(run.id, alice, contribution(nonce), '0x01'), (e) => isIdlegradError(e) && e.code === 'REPLAYED_NONCE');
    const next = { round: 1, modelHash: h(9), params: params.map((x) => x * 2), momentum };
    const frame = new Uint8Array([1, 2, 3, 250]);
    await ledger.commitRound({
      runId: run.id,
      summary: {
        round: 0,
        modelHash: h(9),
        committedAt: 1_790_000_000_123,
        heldOutAccuracy: 0.5,
        heldOutLoss: 1.5,
        trainLoss: null,
        contributions: 1,
        samples: 32,
        volunteers: 1,
        updateBytes: 4,
      },
      state: next,
      update: frame,
      accepted: [{ id, creditWei: 10n ** 30n }],
      rejected: [],
    });
    assert.deepEqual([...(await ledger.update(run.id, 0))!], [...frame]);
    const [r0] = await ledger.rounds(run.id);
    assert.equal(r0.committedAt, 1_790_000_000_123, 'int8 as a number');
    assert.equal(r0.trainLoss, null);
    assert.equal((await ledger.loadRun(run.id))!.state.round, 1);
    await ledger.setVerification([id], 'skipped');
    assert.deepEqual(await ledger.cumulativeCredit(), [{ account: alice, cumulative: 10n ** 30n }], 'numeric(78,0) beyond 2^64');

    const { credit, ids } = await ledger.epochCredit();
    assert.deepEqual(ids, [id]);
    await ledger.openEpoch({
      epoch: 1,
      runId: run.id,
      round: 0,
      root: h(5),
      modelHash: h(9),
      totalWei: credit[0].cumulative,
      accounts: 1,
      tree: { leaves: [1] },
      ids,
    });
    assert.deepEqual(await ledger.unpostedEpochs(), [{ epoch: 1, root: h(5), modelHash: h(9) }]);
    await assert.rejects(
      ledger.openEpoch({ epoch: 1, runId: run.id, round: 0, root: h(6), modelHash: h(9), totalWei: 1n, accounts: 1, tree: {} }),
      'an epoch opens once',
    );
    await ledger.epochPosted(1, h(7));
    assert.equal(await ledger.lastEpoch(), 1);
    assert.deepEqual((await ledger.latestPostedTree())!.tree, { leaves: [1] });
    assert.equal(await ledger.recordClaim(h(8), alice, 10n ** 30n, 1), true);
    assert.equal(await ledger.recordClaim(h(8), alice, 10n ** 30n, 1), false, 'a claim is recorded once');
    assert.equal(await ledger.claimedWei(alice), 10n ** 30n);
    const summary = await ledger.accountSummary(alice);
    assert.equal(summary.contributions.claimed, 1);
    assert.equal(summary.creditWei, (10n ** 30n).toString());
  });
}

for (const backend of LEDGER_BACKENDS) {
  test(
    `${backend.name}: a ledger of "CODE: prose" reasons is migrated to a code column and reads back with codes`,
    { timeout: 60_000, skip: backend.skip },
    async (t) => {
      // The ledger as it stood before the code column: refusals written as "CODE: prose".
      const sql = await backend.open({ migrateTo: MIGRATIONS.findIndex((m) => m.includes('add column reason_code')) });
      t.after(() => sql.close());
      const ledger = new Ledger(sql);
      const params = new Float32Array(run.paramCount);
      await insertInlineRun(sql, run, { round: 0, modelHash: hashParams(params), params, momentum: params });
      const old: [string, string | null][] = [
        ['rejected', "LEFT_OUT: the cohort aggregate does not include this member's frame (refused by the aggregator)"],
        ['rejected', 'WORK_MISMATCH: the update differs from re-executing 4 steps by 12.0 % (tolerance 5.0 %)'],
        ['rejected', 'ROUND_ABORTED: the coordinator restarted before the round committed'],
        ['rejected', 'refused by hand: no code here'],
        ['rejected', 'NOT_A_CODE: looks like one, is not one'],
        ['accepted', null],
      ];
      const ids: number[] = [];
      for (const [i, [state, reason]] of old.entries()) {
        const id = await insertOldRow(sql, BigInt(100 + i));
        await sql.query(`update contributions set state = $2, reason = $3, verification = $4 where id = $1`, [id, state, reason, i === 1 ? 'failed' : null]);
        ids.push(id);
      }
      await sql.query(`insert into identities (account, checks_failed, reputation, last_failure) values ($1, 1, -10, $2)`, [
        alice,
        'WORK_MISMATCH: far from the re-execution',
      ]);
      await migrate(sql);

      const rows = (await sql.query<{ code: string | null; reason: string | null }>(`select reason_code as code, reason from contributions order by id`)).rows;
      assert.deepEqual(
        rows.map((r) => [r.code, r.reason]),
        [
          ['LEFT_OUT', "the cohort aggregate does not include this member's frame (refused by the aggregator)"],
          ['WORK_MISMATCH', 'the update differs from re-executing 4 steps by 12.0 % (tolerance 5.0 %)'],
          ['ROUND_ABORTED', 'the coordinator restarted before the round committed'],
          [null, 'refused by hand: no code here'],
          [null, 'NOT_A_CODE: looks like one, is not one'],
          [null, null],
        ],
      );
      // What the dashboard, the account summaries and the timeline read: codes from the column.
      const flagged = await flaggedSummary(sql, run.id);
      assert.deepEqual(flagged.rejections, { LEFT_OUT: 1, WORK_MISMATCH: 1, ROUND_ABORTED: 1 });
      assert.equal(flagged.uncoded, 2, 'rows whose reason did not parse are counted, not dropped');
      assert.deepEqual(
        flagged.identities.map((i) => [i.account, i.lastCode, i.lastReason, i.refused]),
        [[alice, 'WORK_MISMATCH', 'far from the re-execution', 2]],
      );
      const one = parseAccountSummary(JSON.parse(JSON.stringify({ ...(await ledger.accountSummary(alice)) })), 'summary');
      const many = parseAccountSummary(JSON.parse(JSON.stringify((await accountSummaries(sql, [alice], 0)).get(alice))), 'summary');
      for (const s of [one, many]) {
        assert.deepEqual(
          s.recent.map((r) => r.code),
          [null, null, null, 'ROUND_ABORTED', 'WORK_MISMATCH', 'LEFT_OUT'],
          'newest first',
        );
        assert.equal(s.contributions.rejected, 5);
      }
      const c = (await ledger.contribution(ids[1]))!;
      const detail = parseContributionDetail(JSON.parse(JSON.stringify({ ...c, timeline: contributionTimeline(c), proof: null })), 'contribution');
      assert.equal(detail.code, 'WORK_MISMATCH');
      assert.equal(detail.timeline.at(-1)!.detail, 'WORK_MISMATCH: the update differs from re-executing 4 steps by 12.0 % (tolerance 5.0 %)');
      // New refusals are written as { code, prose } beside the migrated ones.
      const fresh = await ledger.insertPending(run.id, alice, contribution(200n), '0x01');
      await ledger.reject(fresh, { code: 'NO_QUORUM', prose: "fewer than 2/3 of cohort 0's reporting members signed this aggregate" });
      assert.equal((await ledger.contribution(fresh))!.code, 'NO_QUORUM');
      assert.equal((await flaggedSummary(sql, run.id)).rejections.NO_QUORUM, 1);
    },
  );
}

test('PostgreSQL: two coordinators migrating one database at once apply each migration once', { timeout: 60_000, skip: LEDGER_BACKENDS[1].skip }, async () => {
  const db = await LEDGER_BACKENDS[1].createDatabase();
  try {
    const both = await Promise.all([openDatabase({ databaseUrl: db.url }), openDatabase({ databaseUrl: db.url })]);
    const { rows } = await both[0].query<{ n: number }>('select count(*)::int as n from schema_migrations');
    assert.equal(rows[0].n, MIGRATIONS.length);
    for (const s of both) await s.close();
  } finally {
    await db.drop();
  }
});

test('a DATABASE_URL that cannot be reached fails with its address and no password', { timeout: 30_000 }, async () => {
  await assert.rejects(openDatabase({ databaseUrl: 'postgres://idlegrad:secret@127.0.0.1:1/ledger' }), (e: Error) => {
    assert.match(e.message, /^DATABASE_URL \(postgres:\/\/idlegrad:\*\*\*@127\.0\.0\.1:1\/ledger\): cannot connect to PostgreSQL/);
    assert.doesNotMatch(e.message, /secret/);
    return true;
  });
});

for (const backend of LEDGER_BACKENDS) {
  test(
    `${backend.name}: epoch balances — the migration backfills batched credit, and epochs' leaves equal the whole history's sums`,
    { timeout: 60_000, skip: backend.skip },
    async (t) => {
      // A ledger from before the balance table, with one epoch already batched in it.
      const sql = await backend.open({ migrateTo: MIGRATIONS.findIndex((m) => m.includes('create table epoch_balances')) });
      t.after(() => sql.close());
      const ledger = new Ledger(sql);
      const params = initParams(modelOf(run), 7);
      await insertInlineRun(sql, run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
      const bob = `0x${'b0'.repeat(20)}` as Address;
      let nonce = 0n;
      const credit = async (account: Address, wei: bigint, verification: 'skipped' | null = 'skipped') => {
        const id = await ledger.insertPending(run.id, account, contribution(++nonce), '0x01');
        await sql.query(`update contributions set state = 'accepted', verification = $3, credit_wei = $2 where id = $1`, [id, wei.toString(), verification]);
        return id;
      };
      /** What an epoch's leaves were before the balance table: a sum over every contribution ever written. */
      const fromHistory = async () =>
        (
          await sql.query<{ account: Address; total: string }>(
            `select beneficiary as account, sum(credit_wei)::text as total from contributions
           where state in ('batched','claimable','claimed') or (state = 'verified' or (state = 'accepted' and verification in ('skipped','unverifiable')))
           group by beneficiary having sum(credit_wei) > 0 order by beneficiary`,
          )
        ).rows.map((r) => ({ account: r.account, cumulative: BigInt(r.total) }));
      await credit(alice, 100n);
      await credit(bob, 7n);
      await sql.query(`insert into epochs (epoch, run_id, round, root, model_hash, total_wei, accounts, tree) values (1, 1, 0, $1, $1, 107, 2, '{}')`, [h(1)]);
      await sql.query(`update contributions set state = 'batched', epoch = 1`);
      await migrate(sql);
      const balances = async () =>
        (await sql.query<{ b: string; w: string }>(`select beneficiary as b, batched_wei::text as w from epoch_balances order by 1`)).rows.map((r) => [
          r.b,
          r.w,
        ]);
      assert.deepEqual(await balances(), [
        [alice, '100'],
        [bob, '7'],
      ]);

      // Epochs on the new table: new credit, credit not yet payable (no sampling decision), a clawback.
      const pendingCheck = await credit(alice, 1000n, null);
      await credit(bob, 30n);
      for (let epoch = 2; epoch <= 4; epoch++) {
        const { credit: leaves, ids } = await ledger.epochCredit();
        assert.deepEqual(leaves, await fromHistory(), `epoch ${epoch}: the leaves are the history's sums`);
        assert.deepEqual(await ledger.cumulativeCredit(), leaves);
        const total = leaves.reduce((s, l) => s + l.cumulative, 0n);
        await ledger.openEpoch({
          epoch,
          runId: run.id,
          round: epoch,
          root: h(epoch),
          modelHash: h(9),
          totalWei: total,
          accounts: leaves.length,
          tree: {},
          ids,
        });
        await ledger.epochPosted(epoch, h(100 + epoch));
        if (epoch === 2) await sql.query(`update contributions set verification = 'skipped' where id = $1`, [pendingCheck]);
        if (epoch === 3) {
          const clawed = await credit(bob, 500n);
          await sql.query(`update contributions set state = 'rejected', reason_code = 'CLAWED_BACK' where id = $1`, [clawed]);
          await credit(alice, 1n);
        }
      }
      assert.deepEqual(await balances(), [
        [alice, '1101'],
        [bob, '37'],
      ]);
      assert.deepEqual(await ledger.epochCredit(), { credit: await fromHistory(), ids: [] }, 'everything payable is batched');
    },
  );
}
