// The model state in chunks (coordinator/db/model-chunks.ts) on both backends: state larger than
// one chunk reads back bit for bit after a create and a commit, a removed residual stays removed,
// a ledger written before the chunks loads from its old columns and moves to chunks at its next
// commit, and a lost chunk is an error that names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf } from '../../shared/config.ts';
import { MIGRATIONS } from './migrations.ts';
import { migrate, type Sql } from './sql.ts';
import { Ledger, type ModelState } from './ledger.ts';
import { MODEL_CHUNK_BYTES } from './model-chunks.ts';
import { insertInlineRun, LEDGER_BACKENDS } from './test-databases.ts';

// 2.5 chunks and 3 values: the last chunk is partial and not a multiple of anything round.
const N = (MODEL_CHUNK_BYTES / 4) * 2.5 + 3;
const run = { ...runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 }), paramCount: N };
const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}` as Hex;

/** Values whose bytes differ everywhere (a chunk written to the wrong place shows). */
function filled(seed: number): Float32Array {
  const a = new Float32Array(N);
  for (let i = 0; i < N; i++) a[i] = Math.sin(i * 0.001 + seed) * (seed + 1);
  return a;
}
const same = (a: Float32Array | undefined, b: Float32Array | undefined) =>
  a !== undefined && b !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

async function commit(ledger: Ledger, state: ModelState): Promise<void> {
  await ledger.commitRound({
    runId: run.id,
    summary: {
      round: state.round - 1,
      modelHash: state.modelHash,
      committedAt: 1_790_000_000_000,
      heldOutAccuracy: 0.5,
      heldOutLoss: 1.5,
      trainLoss: null,
      contributions: 0,
      samples: 0,
      volunteers: 0,
      updateBytes: 0,
    },
    state,
    update: null,
    accepted: [],
    rejected: [],
  });
}

const chunkCounts = async (sql: Sql) =>
  Object.fromEntries(
    (await sql.query<{ part: string; n: number }>(`select part, count(*)::int as n from model_chunks group by part order by part`)).rows.map((r) => [
      r.part,
      Number(r.n),
    ]),
  );

for (const backend of LEDGER_BACKENDS) {
  test(`${backend.name}: model state larger than one chunk reads back bit for bit`, { timeout: 120_000, skip: backend.skip }, async (t) => {
    const sql = await backend.open();
    t.after(() => sql.close());
    const ledger = new Ledger(sql);
    const s0: ModelState = { round: 0, modelHash: h(1), params: filled(1), momentum: filled(2), residual: filled(3) };
    await ledger.createRun(run, s0);
    assert.deepEqual(await chunkCounts(sql), { momentum: 3, params: 3, residual: 3 });
    const l0 = (await ledger.loadRun(run.id))!;
    assert.equal(l0.state.params.length, N);
    assert.ok(same(l0.state.params, s0.params), 'params');
    assert.ok(same(l0.state.momentum, s0.momentum), 'momentum');
    assert.ok(same(l0.state.residual, s0.residual), 'residual');

    // A commit rewrites every chunk in place; a state without a residual removes its rows.
    const s1: ModelState = { round: 1, modelHash: h(2), params: filled(4), momentum: filled(5) };
    await commit(ledger, s1);
    assert.deepEqual(await chunkCounts(sql), { momentum: 3, params: 3 });
    const l1 = (await ledger.loadRun(run.id))!;
    assert.equal(l1.state.round, 1);
    assert.equal(l1.state.modelHash, h(2));
    assert.ok(same(l1.state.params, s1.params) && same(l1.state.momentum, s1.momentum));
    assert.equal(l1.state.residual, undefined);

    // A reopened ledger (a restart) resumes the same state, with a residual again.
    const s2: ModelState = { round: 2, modelHash: h(3), params: filled(6), momentum: filled(7), residual: filled(8) };
    await commit(ledger, s2);
    const l2 = (await new Ledger(sql).loadRun(run.id))!;
    assert.ok(same(l2.state.params, s2.params) && same(l2.state.momentum, s2.momentum) && same(l2.state.residual, s2.residual));

    await sql.query(`delete from model_chunks where part = 'momentum' and idx = 1`);
    await assert.rejects(ledger.loadRun(run.id), /momentum: chunk 1 is missing/);
  });

  test(
    `${backend.name}: a ledger with its state in model_state's columns loads, and moves to chunks at its next commit`,
    { timeout: 120_000, skip: backend.skip },
    async (t) => {
      const sql = await backend.open({ migrateTo: MIGRATIONS.findIndex((m) => m.includes('create table model_chunks')) });
      t.after(() => sql.close());
      const small = { ...run, paramCount: 1000 };
      const p = filled(1).subarray(0, 1000);
      const m = filled(2).subarray(0, 1000);
      const e = filled(3).subarray(0, 1000);
      await insertInlineRun(sql, small, { round: 4, modelHash: h(5), params: p, momentum: m, residual: e });
      await migrate(sql);
      const ledger = new Ledger(sql, 1024);
      const old = (await ledger.loadRun(small.id))!;
      assert.equal(old.state.round, 4);
      assert.ok(same(old.state.params, p) && same(old.state.momentum, m) && same(old.state.residual, e));

      await commit(ledger, { ...old.state, round: 5, modelHash: h(6) });
      const { rows } = await sql.query<{ inline: boolean }>(
        `select params is not null or momentum is not null or residual is not null as inline from model_state`,
      );
      assert.equal(rows[0].inline, false, 'the old columns are cleared');
      assert.deepEqual(await chunkCounts(sql), { momentum: 4, params: 4, residual: 4 }, '4,000 bytes in 1,024-byte chunks');
      const moved = (await ledger.loadRun(small.id))!;
      assert.equal(moved.state.round, 5);
      assert.ok(same(moved.state.params, p) && same(moved.state.momentum, m) && same(moved.state.residual, e));
    },
  );
}
