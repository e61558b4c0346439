// Issue 17 item 5: a takeover commits the open round instead of aborting it. Two coordinator
// processes on one PostgreSQL, one anvil and one nats-server, in cluster mode (IDLEGRAD_NATS_URL):
// the leader journals each round's opening, every report and upload on the run's JetStream stream
// before it acknowledges them, and writes the ledger under its committer lease. Four virtual
// volunteers (the project's own client code: CPU training, real EIP-712 signatures, reports signed by
// an Ed25519 session key each hello certifies: protocol 6) in one cohort;
// three report and the aggregate is uploaded, all acknowledged, then the leader is SIGKILLed
// mid-round. The follower takes the lease (token + 1), reads the round back from the bus and
// resumes it, re-checking each journaled report's session certificate and signature; the fourth volunteer, reconnected there, reports to the resumed round, and the
// round commits with all four contributions: no ROUND_ABORTED, the model hash the uploaded
// aggregate determines from θ_0, and a ledger write under the dead leader's token is refused.
// Round 1 then runs on the new leader from that hash. Needs PostgreSQL (IDLEGRAD_TEST_DATABASE_URL)
// and nats-server (.ci/run provides both).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startAnvil, DEV_DEPLOYER_KEY } from '../coordinator/chain/index.ts';
import { createTestDatabase } from '../coordinator/db/test-databases.ts';
import { fencedSql, openDatabase } from '../coordinator/db/index.ts';
import { natsServerSkip, startNatsServer, type NatsServer } from '../coordinator/cluster/index.ts';
import { decodeFrame } from '../shared/codec.ts';
import { aggregateLimits, applyGlobalUpdate, compressGlobalUpdate } from '../shared/round.ts';
import { combineCohorts } from '../shared/robust-combine.ts';
import { startPlatformProcess, waitForOutput, type PlatformProcess } from './platform-process.ts';
import { VirtualVolunteer, trainSet, type RoundMsg } from './virtual-volunteer.ts';
import { playRound } from './round-player.ts';

const settings = {
  minVolunteers: 4,
  cohortSize: 4,
  inner: { steps: 3 },
  // A long report window: the round commits early once all four are in, not at its deadline.
  timing: { trainMs: 3000, exchangeMs: 1000, reportMs: 40_000 },
  rewards: { epochRounds: 100 },
  verification: { rate: 0, newIdentityRate: 0 },
};
const skip = !process.env.IDLEGRAD_TEST_DATABASE_URL ? 'IDLEGRAD_TEST_DATABASE_URL is not set (start a server with .ci/postgres.sh)' : natsServerSkip();

test(
  'cluster mode: the committer is SIGKILLed mid-round and its successor commits that round with the acknowledged reports',
  { timeout: 3 * 60_000, skip },
  async (t) => {
    const started = Date.now();
    const anvil = await startAnvil();
    const db = await createTestDatabase();
    const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'idlegrad-cluster-')));
    const procs: PlatformProcess[] = [];
    let vs: VirtualVolunteer[] = [];
    let nats: NatsServer | null = null;
    const client = new pg.Client({ connectionString: db.url });
    let passed = false;
    t.after(async () => {
      // A failure shows what each coordinator said (they run quiet): the takeover, the resume, the commit.
      if (!passed) for (const [i, p] of procs.entries()) console.error(`--- coordinator ${i} (pid ${p.child.pid}) output:\n${p.output().slice(-6000)}`);
      for (const v of vs) v.close();
      for (const p of procs) await p.stop();
      await client.end().catch(() => undefined);
      await nats?.stop();
      await anvil.stop();
      await db.drop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
    nats = await startNatsServer({ storeDir: join(dirs[2], 'nats') });
    const env = {
      DATABASE_URL: db.url,
      RPC_URL: anvil.rpcUrl,
      DEPLOYER_KEY: DEV_DEPLOYER_KEY,
      IDLEGRAD_NATS_URL: nats.url,
      IDLEGRAD_COMMITTER_TTL_MS: '1500',
    };

    const leader = await startPlatformProcess(settings, { dataDir: dirs[0], quiet: true, env });
    procs.push(leader);
    assert.match(leader.output(), /cluster: leading/);
    assert.match(leader.output(), /committer lease of run 1 taken \(token 1\)/);
    const follower = await startPlatformProcess(settings, { dataDir: dirs[1], quiet: true, env });
    procs.push(follower);
    assert.match(follower.output(), /cluster: following/);

    // Four volunteers, two on each coordinator (the follower relays its two), in one cohort.
    const keys = anvil.accounts.slice(1, 5).map((a) => a.privateKey);
    const connect = async (urls: string[]) => {
      vs = keys.map((k, i) => new VirtualVolunteer(urls[i], k));
      await Promise.all(vs.map((v) => v.connect()));
      for (const v of vs) v.send({ type: 'start' });
    };
    await connect([leader.url, leader.url, follower.url, follower.url]);
    const data = await trainSet(follower.url);
    const rounds = (await Promise.all(vs.map((v) => v.next('round')))) as RoundMsg[];
    assert.equal(rounds[0].round, 0);
    const theta0 = { params: vs[0].params.slice(), momentum: vs[0].momentum.slice(), modelHash: vs[0].modelHash };
    assert.equal(rounds[0].modelHash, theta0.modelHash);
    const updates = await Promise.all(vs.map((v, i) => v.train(rounds[i], data)));
    const agg = vs[0].aggregate(
      0,
      updates.map((u) => u.frame),
    );
    const up = await vs[0].uploadAggregate(0, agg.bytes);
    assert.equal(up.status, 200, await up.clone().text());
    const contributions = vs.map((v, i) => v.contribution(rounds[i], updates[i], agg));
    // Three of four report and are acknowledged (pending: stored on the bus and in the ledger); the fourth has not yet.
    const acks = await Promise.all([0, 1, 2].map((i) => vs[i].report(contributions[i], agg.frameHashes)));
    for (const a of acks) assert.ok(a.type === 'ack' && a.state === 'pending', JSON.stringify(a));

    // The certificates the three acknowledged reports were signed under (a reconnect below makes new volunteers, with new keys).
    const certifiedFirst = vs.map((v) => v.sessionKey!.digest.toLowerCase());
    // SIGKILL the committer mid-round: its volunteers and the follower's relayed ones are cut off.
    for (const v of vs) v.close();
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await waitForOutput(follower, /cluster: took over as leader in \d+ ms/);
    const takeoverMs = Date.now() - killedAt;
    assert.match(follower.output(), /committer lease of run 1 taken \(token 2\)/);
    assert.match(follower.output(), /cluster: resumed round 0 from the bus: 3 reports, 1 aggregates;/);

    // The fourth volunteer reconnects to the new leader and reports to the resumed round.
    await connect(keys.map(() => follower.url));
    const late = await vs[3].report(contributions[3], agg.frameHashes);
    assert.ok(late.type === 'ack' && late.state === 'pending', `the resumed round takes a live report: ${JSON.stringify(late)}`);
    const committed0 = await vs[0].next('committed', 60_000, (m) => m.round === 0);
    const commitAfterKillMs = committed0.serverTime - killedAt;

    // The model hash the inputs determine: the one cohort aggregate combined and applied to θ_0.
    const run = vs[0].run;
    const combined = (await combineCohorts(run, 0, [{ hash: agg.hash, frame: decodeFrame(agg.bytes, aggregateLimits(run, 0)) }])).bytes;
    const update = run.globalUpdate === 'compressed' ? compressGlobalUpdate(run, 0, combined, new Float32Array(run.paramCount)).bytes : combined;
    const expected = await applyGlobalUpdate({ run: run.id, paramTableHash: run.paramTableHash, round: 0, ...theta0 }, update, run);
    assert.equal(committed0.modelHash, expected.modelHash, 'the successor commits the model hash the acknowledged inputs determine');
    assert.equal(committed0.accepted, 4);

    await client.connect();
    const rows = (
      await client.query<{ nonce: string; state: string; reason_code: string | null }>(
        `select nonce::text, state, reason_code from contributions where round = 0 order by id`,
      )
    ).rows;
    assert.deepEqual(
      rows.map((r) => [r.nonce, r.state, r.reason_code]).sort(),
      contributions.map((c) => [c.nonce.toString(), 'accepted', null]).sort(),
      'the three acknowledged before the kill and the one sent after it, each accepted',
    );
    assert.equal((await client.query(`select 1 from contributions where reason_code = 'ROUND_ABORTED'`)).rows.length, 0, 'no ROUND_ABORTED');
    // Protocol 6 through the takeover: every row, the three the successor re-checked from the bus included, names the
    // session certificate its volunteer's key was certified with at hello (the successor verified the same chain).
    const certs = await client.query<{ account: string; certificate: string | null }>(
      `select c.account, c.certificate from contributions c join session_certificates s on s.digest = c.certificate where c.round = 0`,
    );
    assert.deepEqual(
      certs.rows.map((r) => [r.account, r.certificate]).sort(),
      vs.map((v, i) => [v.address, i < 3 ? certifiedFirst[i] : v.sessionKey!.digest.toLowerCase()]).sort(),
    );
    const r0 = (await client.query<{ model_hash: string; contributions: number }>(`select model_hash, contributions from rounds where round = 0`)).rows;
    assert.deepEqual(r0, [{ model_hash: expected.modelHash, contributions: 4 }]);

    // The deposed committer's token is fenced off: a ledger statement under it is refused.
    const lease = (await client.query<{ token: string; holder: string }>(`select token::text, holder from committer_lease where run_id = 1`)).rows[0];
    assert.equal(lease.token, '2');
    assert.match(lease.holder, new RegExp(`:${follower.child.pid}$`));
    const sql = await openDatabase({ databaseUrl: db.url });
    try {
      await assert.rejects(
        fencedSql(sql, { runId: 1, token: 1, holder: 'the killed leader' }).query(`update model_state set round = round where run_id = 1`),
        /LEASE_FENCED|was deposed/,
      );
    } finally {
      await sql.close();
    }

    // The chain goes on from the resumed round's model on the new leader.
    for (const [i, v] of vs.entries()) {
      const c = i === 0 ? committed0 : await v.next('committed', 60_000, (m) => m.round === 0);
      assert.equal(c.modelHash, expected.modelHash);
      assert.equal(await v.applyCommitted(c), true, `volunteer ${i} reproduces round 0's model hash from the published update`);
    }
    const next = await playRound(vs, data);
    assert.equal(next.round, 1);
    assert.equal(next.parent, expected.modelHash, "round 1 trains from the resumed round's model");
    passed = true;
    console.log(
      `cluster: committer SIGKILLed mid-round (3 of 4 reports acknowledged) → follower leading in ${takeoverMs} ms, round 0 resumed from the bus and committed at +${commitAfterKillMs} ms with 4/4 contributions (h=${expected.modelHash.slice(0, 10)}…, as the inputs determine), round 1 committed from it; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  },
);
