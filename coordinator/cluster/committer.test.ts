// The committer's lease and its fencing token, on PGlite and on a real PostgreSQL
// (IDLEGRAD_TEST_DATABASE_URL; .ci/run starts one): tokens grow at each change of holder; a
// holder that stops renewing (a frozen or crashed host, its connection still open) loses the lease
// by time; a deposed committer's round commit through the real Ledger is refused and leaves no
// row; on PostgreSQL a takeover waits for the old holder's fenced transaction in flight, and the
// old holder's next write is refused. Then the whole takeover: the new committer reads the open
// round's acknowledged reports back from a real nats-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address, Hex } from 'viem';
import { initParams } from '../../shared/model.ts';
import { modelOf } from '../../shared/config.ts';
import { runModelHash } from '../../shared/model-hash.ts';
import {
  Ledger,
  acquireCommitterLease,
  committerLeaseOf,
  ensureCommitterLeaseTable,
  fencedSql,
  LeaseError,
  renewCommitterLease,
  type Sql,
} from '../db/index.ts';
import { LEDGER_BACKENDS } from '../db/test-databases.ts';
import { engineTestRun } from '../round/engine.fixture.ts';
import { Committer } from './committer.ts';
import { RoundBus } from './round-bus.ts';
import { natsServerSkip, startNatsServer } from './nats-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = engineTestRun({});

async function ledgerWithRun(sql: Sql) {
  await ensureCommitterLeaseTable(sql);
  const params = initParams(modelOf(run), run.seed);
  const theta0 = { round: 0, modelHash: await runModelHash(run, params), params, momentum: new Float32Array(params.length) };
  await new Ledger(sql).createRun(run, theta0);
  return theta0;
}

/** Round `round`'s commit with no contributions: the model unchanged, one `rounds` row. */
const emptyCommit = (theta: { modelHash: Hex; params: Float32Array; momentum: Float32Array }, round: number) => ({
  runId: run.id,
  summary: {
    round,
    modelHash: theta.modelHash,
    committedAt: 1_800_000_000_000 + round,
    heldOutAccuracy: 0.1,
    heldOutLoss: 2.3,
    trainLoss: null,
    contributions: 0,
    samples: 0,
    volunteers: 0,
    updateBytes: 0,
  },
  state: { round: round + 1, modelHash: theta.modelHash, params: theta.params, momentum: theta.momentum },
  update: null,
  accepted: [],
  rejected: [],
});

const roundsOf = async (sql: Sql) =>
  (await sql.query<{ round: number }>(`select round from rounds where run_id = $1 order by round`, [run.id])).rows.map((r) => Number(r.round));

for (const backend of LEDGER_BACKENDS) {
  test(
    `${backend.name}: a lease that is not renewed expires by time; the deposed committer's round commit is refused and writes nothing`,
    { skip: backend.skip, timeout: 60_000 },
    async (t) => {
      const sql = await backend.open();
      t.after(() => sql.close());
      const theta0 = await ledgerWithRun(sql);

      await assert.rejects(
        acquireCommitterLease(sql, run.id, '', 1000),
        (e: Error) => e instanceof LeaseError && e.code === 'LEASE_BAD_INPUT' && /holder/.test(e.message),
      );
      const a = await acquireCommitterLease(sql, run.id, 'host-a:1', 600);
      assert.deepEqual(a, { runId: run.id, token: 1, holder: 'host-a:1' });
      assert.equal(await acquireCommitterLease(sql, run.id, 'host-b:2', 600), null, 'a live lease is not taken');
      assert.ok(await renewCommitterLease(sql, a!, 600));
      // host-a stalls past its TTL with nobody waiting: its token is still the run's, so it renews and keeps the run.
      await sleep(800);
      assert.equal((await committerLeaseOf(sql, run.id))?.expired, true);
      assert.ok(await renewCommitterLease(sql, a!, 600), 'an expired lease nobody took is renewed by its holder');
      assert.deepEqual(await committerLeaseOf(sql, run.id), { runId: run.id, token: 1, holder: 'host-a:1', expired: false });
      // host-a freezes (its connection stays open): no renewal; the lease ends by the database's clock.
      await sleep(800);
      assert.equal((await committerLeaseOf(sql, run.id))?.expired, true);
      const b = await acquireCommitterLease(sql, run.id, 'host-b:2', 60_000);
      assert.equal(b?.token, 2, 'the next holder gets the next token');
      assert.equal(await renewCommitterLease(sql, a!, 600), false, 'the old holder cannot renew');
      assert.equal(await acquireCommitterLease(sql, run.id, 'host-a:1', 600), null, 'nor take it back while b holds it');

      // host-a wakes up and commits round 0 through its fenced ledger: refused, nothing written.
      await assert.rejects(
        new Ledger(fencedSql(sql, a!)).commitRound(emptyCommit(theta0, 0)),
        (e: Error) => e instanceof LeaseError && e.code === 'LEASE_FENCED' && /token 1\) was deposed: run 1's lease has token 2/.test(e.message),
      );
      assert.deepEqual(await roundsOf(sql), []);
      const model = await new Ledger(sql).loadRun(run.id);
      assert.equal(model?.state.round, 0, 'the model state did not move');
      await new Ledger(fencedSql(sql, b!)).commitRound(emptyCommit(theta0, 0));
      assert.deepEqual(await roundsOf(sql), [0], 'the holder of the newest token commits');
    },
  );
}

test(
  'PostgreSQL: a takeover waits for the old holder’s fenced transaction in flight; its next write is refused',
  { skip: LEDGER_BACKENDS[1].skip, timeout: 60_000 },
  async (t) => {
    const sql = await LEDGER_BACKENDS[1].open();
    t.after(() => sql.close());
    const theta0 = await ledgerWithRun(sql);
    const a = (await acquireCommitterLease(sql, run.id, 'host-a:1', 300))!;
    const ledgerA = new Ledger(fencedSql(sql, a));

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let checked!: () => void;
    const inside = new Promise<void>((r) => (checked = r));
    // host-a's commit of round 0 passes the fence, then stalls (a long statement, a GC pause) past its lease.
    const commitA = fencedSql(sql, a).transaction(async (tx) => {
      checked();
      await held;
      await tx.query(`update model_state set round = 1 where run_id = $1`, [run.id]);
      return 'committed under token 1';
    });
    await inside;
    await sleep(500);
    // host-b (another connection of the pool) takes over once the lease is up: it waits for host-a's transaction.
    let tookOver = false;
    const takeover = acquireCommitterLease(sql, run.id, 'host-b:2', 60_000).then((l) => ((tookOver = true), l));
    await sleep(700);
    assert.equal(tookOver, false, 'the takeover waits while a fenced transaction of the old holder runs');
    release();
    assert.equal(await commitA, 'committed under token 1', 'what passed the fence before the takeover completes');
    const b = await takeover;
    assert.equal(b?.token, 2);
    // After the takeover nothing of host-a's lands.
    await assert.rejects(ledgerA.commitRound(emptyCommit(theta0, 1)), (e: Error) => e instanceof LeaseError && e.code === 'LEASE_FENCED');
    assert.deepEqual(await roundsOf(sql), []);
  },
);

test(
  'takeover: the committer that renews keeps the lease; when it freezes the next one takes over and reads the open round from the bus',
  { skip: LEDGER_BACKENDS[1].skip || natsServerSkip(), timeout: 60_000 },
  async (t) => {
    const sql = await LEDGER_BACKENDS[1].open();
    t.after(() => sql.close());
    const theta0 = await ledgerWithRun(sql);
    const dir = mkdtempSync(join(tmpdir(), 'idlegrad-nats-'));
    const nats = await startNatsServer({ storeDir: dir });
    t.after(async () => (await nats.kill(), rmSync(dir, { recursive: true, force: true })));

    const deposed: string[] = [];
    const a = await Committer.acquire(sql, { runId: run.id, holder: 'host-a:1', ttlMs: 1_500, renewEveryMs: 200, onDeposed: (w) => deposed.push(w) });
    t.after(() => a.stopRenewing());
    assert.equal(a.lease.token, 1);
    // Three lease lifetimes later host-a still holds it: host-b waits.
    await assert.rejects(
      Committer.acquire(sql, { runId: run.id, holder: 'host-b:2', ttlMs: 1_500, pollMs: 100 }, AbortSignal.timeout(4_500)),
      /abort|timeout/i,
    );

    // host-a opens round 0 on the bus and its gateway acknowledges 24 reports; then host-a freezes.
    const bus = await RoundBus.open({ servers: nats.url, runId: run.id });
    t.after(() => bus.close());
    const h32 = `0x${'ab'.repeat(32)}` as Hex;
    await bus.publishOpen({ round: 0, modelHash: theta0.modelHash, startsAt: 1, exchangeEndsAt: 2, reportEndsAt: 3, cohorts: [] });
    for (let i = 0; i < 24; i++) {
      const nonce = String(500 + i);
      const contribution = {
        run: run.id,
        round: 0,
        cohort: i >> 3,
        frameHash: h32,
        aggregateHash: h32,
        framesRoot: h32,
        residualHash: h32,
        samples: 32,
        steps: 1,
        lossBeforeMicro: 2,
        lossAfterMicro: 1,
        computeMs: 9,
        nonce,
        expiry: '1999999999',
        partner: '',
      };
      const ack = await bus.publishReport({
        round: 0,
        account: `0x${(i + 1).toString(16).padStart(40, '0')}` as Address,
        nonce,
        receivedAt: 2,
        message: { type: 'report', contribution, signature: `0x${'ef'.repeat(64)}` as Hex, frameHashes: [h32] },
        certificate: null,
      });
      assert.equal(ack.duplicate, false);
    }
    const aggregate = new Uint8Array(200_000).map((_, i) => (i * 7) & 255);
    await bus.publishAggregate(0, h32, aggregate);
    a.stopRenewing();
    const frozeAt = performance.now();
    const b = await Committer.acquire(sql, { runId: run.id, holder: 'host-b:2', ttlMs: 1_500, pollMs: 100 });
    t.after(() => b.stopRenewing());
    const tookMs = performance.now() - frozeAt;
    t.diagnostic(`host-b took the lease ${Math.round(tookMs)} ms after host-a stopped renewing (lease 1,500 ms, renewed every 200 ms, polled every 100 ms)`);
    assert.equal(b.lease.token, 2);
    assert.ok(tookMs < 1_500 + 2_000, `host-b took over ${Math.round(tookMs)} ms after host-a froze (lease 1,500 ms)`);

    const resumed = await b.resume(bus, (await b.ledger.loadRun(run.id))!.state.round);
    assert.ok(resumed, 'round 0 is open on the bus');
    assert.equal(resumed.opening.modelHash, theta0.modelHash);
    assert.equal(resumed.reports.length, 24, 'every acknowledged report of the open round');
    assert.deepEqual(
      resumed.aggregates.map((x) => [x.hash, x.bytes.byteLength]),
      [[h32, 200_000]],
    );
    assert.deepEqual(resumed.aggregates[0].bytes, aggregate, 'and its uploaded aggregate, byte for byte');
    assert.equal(await b.resume(bus, 1), null, 'a round the ledger does not expect next is not resumed');

    await assert.rejects(a.ledger.commitRound(emptyCommit(theta0, 0)), (e: Error) => e instanceof LeaseError && e.code === 'LEASE_FENCED');
    await b.ledger.commitRound(emptyCommit(theta0, 0));
    await bus.publishCommitted(0, theta0.modelHash);
    assert.equal(await b.resume(bus, 1), null);
    assert.deepEqual(await roundsOf(sql), [0]);
    // host-a's renewal loop was stopped by the freeze, so it never heard; a live one hears at its next renewal.
    assert.equal(deposed.length, 0);
    const c = await Committer.acquire(sql, { runId: run.id + 1, holder: 'host-c:3', ttlMs: 600, renewEveryMs: 100, onDeposed: (w) => deposed.push(w) });
    t.after(() => c.stopRenewing());
    await sql.query(`update committer_lease set token = token + 1 where run_id = $1`, [run.id + 1]);
    // Its next renewal (every 100 ms) finds the newer token; wait up to 5 s for it on a loaded machine.
    for (let i = 0; i < 50 && deposed.length === 0; i++) await sleep(100);
    assert.equal(deposed.length, 1);
    assert.match(deposed[0], /was taken by a newer token/);
    assert.ok(c.deposedBecause);
    // A clean stop ends the lease at once: the next committer need not wait for its expiry.
    await b.release();
    const d = await Committer.acquire(sql, { runId: run.id, holder: 'host-d:4', ttlMs: 60_000, pollMs: 100 }, AbortSignal.timeout(1_000));
    assert.equal(d.lease.token, 3);
    await d.release();
  },
);

// PGlite: one in-process queue, so the read after the stall runs before any renewal the stall held back
// (on PostgreSQL a pooled renewal may overtake it; the renewal rule itself is tested on both, above).
test(
  'a committer whose event loop stalls past its lease, with nobody waiting, keeps the run (the old rule made such a leader exit)',
  { timeout: 30_000 },
  async (t) => {
    const sql = await LEDGER_BACKENDS[0].open();
    t.after(() => sql.close());
    await ledgerWithRun(sql);
    const deposed: string[] = [];
    const a = await Committer.acquire(sql, { runId: run.id, holder: 'host-a:1', ttlMs: 300, renewEveryMs: 100, onDeposed: (w) => deposed.push(w) });
    t.after(() => a.stopRenewing());
    // A synchronous stall three times the lease: no renewal runs, and the database's clock lets the lease expire.
    for (const until = performance.now() + 900; performance.now() < until;);
    assert.equal((await committerLeaseOf(sql, run.id))?.expired, true, 'the lease ran out during the stall');
    // The next renewals find the token still the run's and extend it.
    for (let i = 0; i < 50 && (await committerLeaseOf(sql, run.id))?.expired; i++) await sleep(20);
    assert.deepEqual(deposed, [], 'not deposed: nobody took the lease');
    assert.deepEqual(await committerLeaseOf(sql, run.id), { runId: run.id, token: 1, holder: 'host-a:1', expired: false });
    assert.equal(a.deposedBecause, null);
  },
);
