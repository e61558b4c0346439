// Issue 8 item 5: two coordinator processes on one PostgreSQL serve one run, each holding
// part of the volunteers; the leader commits rounds, and after it is killed with SIGKILL
// the follower takes over: rounds keep committing on one model hash chain, no accepted
// contribution is lost, and only one set of contracts receives one root per epoch — the
// leader dies in the middle of posting one, which the new leader reconciles.
// Needs a PostgreSQL server: IDLEGRAD_TEST_DATABASE_URL (.ci/run starts one).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPublicClient, http, type Hex } from 'viem';
import { rewardDistributorAbi } from '../shared/chain/abi.ts';
import { startAnvil, DEV_DEPLOYER_KEY } from '../coordinator/chain/index.ts';
import { createTestDatabase } from '../coordinator/db/test-databases.ts';
import { startPlatformProcess, waitForOutput, type PlatformProcess } from './platform-process.ts';
import { VirtualVolunteer } from './virtual-volunteer.ts';
import { playRound } from './round-player.ts';
import { trainSet } from './virtual-volunteer.ts';

const settings = {
  minVolunteers: 4,
  cohortSize: 4,
  inner: { steps: 3 },
  timing: { trainMs: 4000, exchangeMs: 2000, reportMs: 4000 },
  rewards: { epochRounds: 2 },
  verification: { rate: 0, newIdentityRate: 0 },
};
const skip = process.env.IDLEGRAD_TEST_DATABASE_URL ? false : 'IDLEGRAD_TEST_DATABASE_URL is not set (start a server with .ci/postgres.sh)';

test('two coordinators, one run: the follower takes over when the leader is SIGKILLed', { timeout: 3 * 60_000, skip }, async (t) => {
  const anvil = await startAnvil();
  const db = await createTestDatabase();
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'idlegrad-failover-')));
  const procs: PlatformProcess[] = [];
  let vs: VirtualVolunteer[] = [];
  const client = new pg.Client({ connectionString: db.url });
  t.after(async () => {
    for (const v of vs) v.close();
    for (const p of procs) await p.stop();
    await client.end().catch(() => undefined);
    await anvil.stop();
    await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const env = { DATABASE_URL: db.url, RPC_URL: anvil.rpcUrl, DEPLOYER_KEY: DEV_DEPLOYER_KEY };

  // The leader is killed while it posts epoch 1: its root transaction mined, not yet recorded.
  const leader = await startPlatformProcess(settings, { dataDir: dirs[0], quiet: true, env: { ...env, IDLEGRAD_FAULT: 'epoch-sent:1' } });
  procs.push(leader);
  assert.match(leader.output(), /cluster: leading/);
  const follower = await startPlatformProcess(settings, { dataDir: dirs[1], quiet: true, env });
  procs.push(follower);
  assert.match(follower.output(), /cluster: following/);
  assert.notEqual(follower.url, leader.url);
  // /readyz names each process's role: the leader holds its lease, the follower reaches its leader.
  const readyz = async (url: string) => {
    const r = await fetch(new URL('readyz', url));
    const body = (await r.json()) as { role: string; checks: Record<string, { ok: boolean }> };
    return [r.status, body.role, body.checks.lease?.ok ?? body.checks.leader?.ok];
  };
  assert.deepEqual(await readyz(leader.url), [200, 'leader', true]);
  assert.deepEqual(await readyz(follower.url), [200, 'follower', true]);

  // Four volunteers, two on each coordinator, in one cohort.
  const keys = anvil.accounts.slice(1, 5).map((a) => a.privateKey);
  const connect = async (urls: string[]) => {
    vs = keys.map((k, i) => new VirtualVolunteer(urls[i], k));
    await Promise.all(vs.map((v) => v.connect()));
    for (const v of vs) v.send({ type: 'start' });
  };
  await connect([leader.url, leader.url, follower.url, follower.url]);
  const data = await trainSet(follower.url);
  const chain = vs[0].chain;
  assert.deepEqual(vs[2].chain, chain, 'both coordinators serve one chain and one distributor');

  const played: Awaited<ReturnType<typeof playRound>>[] = [];
  for (let r = 0; r < 2; r++) played.push(await playRound(vs, data));
  await waitForOutput(leader, /FAULT epoch-sent:1/);
  await client.connect();
  const accepted = async () =>
    (await client.query<{ id: string }>(`select id::text from contributions where state not in ('pending', 'rejected') order by id`)).rows.map((r) => r.id);
  const before = await accepted();
  assert.equal(before.length, 8, 'two rounds × four contributions accepted');

  // SIGKILL the leader, stopped inside epoch 1's posting. The follower's relayed volunteers are cut off too; all reconnect to it.
  for (const v of vs) v.close();
  const killedAt = Date.now();
  leader.child.kill('SIGKILL');
  await waitForOutput(follower, /cluster: took over as leader in \d+ ms/);
  assert.deepEqual(await readyz(follower.url), [200, 'leader', true], 'the new leader answers /readyz as the leader');
  assert.match(follower.output(), /reconciled unposted epoch\(s\) 1 with the chain/);
  const takeoverMs = Date.now() - killedAt;
  await connect(keys.map(() => follower.url));
  assert.deepEqual(vs[0].chain, chain, 'the new leader re-attached to the same contracts instead of deploying its own');
  for (let r = 0; r < 2; r++) played.push(await playRound(vs, data));
  const firstCommitAfterKillMs = played[2].committed[0].serverTime - killedAt;
  await waitForOutput(follower, /epoch 2 posted/);

  // One model hash chain: each round starts from the model the previous round committed.
  assert.deepEqual(
    played.map((p) => p.round),
    [0, 1, 2, 3],
  );
  for (let r = 1; r < played.length; r++) assert.equal(played[r].parent, played[r - 1].committed[0].modelHash, `round ${r} starts from round ${r - 1}'s model`);
  const rounds = (
    await client.query<{ round: number; model_hash: string; contributions: number }>(`select round, model_hash, contributions from rounds order by round`)
  ).rows;
  assert.deepEqual(
    rounds.map((r) => [r.round, r.model_hash, r.contributions]),
    played.map((p) => [p.round, p.committed[0].modelHash, 4]),
  );
  const state = (await client.query<{ round: number; model_hash: string }>(`select round, model_hash from model_state`)).rows;
  assert.deepEqual(state, [{ round: 4, model_hash: played[3].committed[0].modelHash }]);

  // No accepted contribution lost: everything accepted before the kill still is (or was paid on).
  const after = await accepted();
  for (const id of before) assert.ok(after.includes(id), `contribution ${id} accepted before the kill is still accepted`);
  assert.equal(after.length, 16);

  // The chain: one set of contracts, one root per epoch, posted by whoever led at the time.
  const pub = createPublicClient({ transport: http(anvil.rpcUrl) });
  const logs = await pub.getContractEvents({ address: chain.distributor, abi: rewardDistributorAbi, eventName: 'EpochPosted', fromBlock: 0n });
  assert.deepEqual(
    logs.map((l) => Number(l.args.epoch)),
    [1, 2],
  );
  const epochs = (await client.query<{ epoch: number; root: string; tx_hash: string }>(`select epoch, root, tx_hash from epochs order by epoch`)).rows;
  assert.deepEqual(
    epochs.map((e) => [e.epoch, e.root, e.tx_hash]),
    logs.map((l) => [Number(l.args.epoch), l.args.root as Hex, l.transactionHash]),
  );

  console.log(
    `failover: leader SIGKILLed → follower leading in ${takeoverMs} ms; first round committed after the kill at +${firstCommitAfterKillMs} ms (volunteers reconnected and trained); rounds 0–3 on one hash chain, 16/16 accepted contributions kept, epochs 1–2 posted once each (epoch 1 sent by the killed leader, recorded by the new one)`,
  );
});
