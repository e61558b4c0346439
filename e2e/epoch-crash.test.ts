// Issue 5's crash acceptance: the coordinator process is killed with SIGKILL while it posts
// a reward epoch — once after the root's transaction is mined but before the ledger records
// it, once after the ledger opened the epoch but before the transaction — and restarted on
// the same data directory and chain. Each epoch's root is on chain exactly once, every
// claim pays exactly the ledger's amount, and a second claim reverts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, http, type Address, type Hex } from 'viem';
import { rewardDistributorAbi, rewardTokenAbi } from '../shared/chain/abi.ts';
import { claimReward, ClaimError } from '../shared/chain/claim.ts';
import { startAnvil, DEV_DEPLOYER_KEY } from '../coordinator/chain/index.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { VirtualVolunteer } from './virtual-volunteer.ts';
import { playRound } from './round-player.ts';
import { trainSet } from './virtual-volunteer.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';

const STEPS = 3;
const BATCH = 32;
const WEI_PER_SAMPLE = 10n ** 15n;
const settings = {
  minVolunteers: 2,
  cohortSize: 2,
  inner: { steps: STEPS, batchSize: BATCH },
  timing: { trainMs: 4000, exchangeMs: 2000, reportMs: 4000 },
  rewards: { epochRounds: 1, weiPerSample: WEI_PER_SAMPLE.toString() },
  // Every contribution payable at once: this test is about epochs, not spot checks.
  verification: { rate: 0, newIdentityRate: 0 },
};

const anvil = await startAnvil();
const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-epoch-crash-'));
const live: { p?: PlatformProcess; vs: VirtualVolunteer[] } = { vs: [] };
after(async () => {
  for (const v of live.vs) v.close();
  await live.p?.stop();
  await anvil.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// Volunteers are anvil dev accounts 1 and 2: funded, so they can pay for their own claims.
const keys = [anvil.accounts[1].privateKey, anvil.accounts[2].privateKey];
const chainEnv = { RPC_URL: anvil.rpcUrl, DEPLOYER_KEY: DEV_DEPLOYER_KEY };

async function start(fault?: string): Promise<PlatformProcess> {
  const p = await startPlatformProcess(settings, { dataDir, quiet: true, env: { ...chainEnv, ...(fault ? { IDLEGRAD_FAULT: fault } : {}) } });
  live.p = p;
  live.vs = keys.map((k) => new VirtualVolunteer(p.url, k));
  await Promise.all(live.vs.map((v) => v.connect()));
  for (const v of live.vs) v.send({ type: 'start' });
  return p;
}

async function waitFor(p: PlatformProcess, re: RegExp, timeoutMs = 60_000): Promise<string> {
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await new Promise((r) => setTimeout(r, 50))) {
    const m = p.output().match(re);
    if (m) return m[0];
  }
  throw new Error(`no line matching ${re} within ${timeoutMs} ms:\n${p.output()}`);
}

async function sigkill(p: PlatformProcess): Promise<void> {
  for (const v of live.vs) v.close();
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exited;
  assert.equal(p.child.signalCode, 'SIGKILL');
}

test('SIGKILL while posting an epoch: each root on chain once, claims pay the ledger amount once', { timeout: 5 * 60_000 }, async () => {
  // Round 0 commits; epoch 1's transaction is mined; the process dies before recording it.
  let p = await start('epoch-sent:1');
  const data = await trainSet(p.url);
  await playRound(live.vs, data);
  const sent = await waitFor(p, /FAULT epoch-sent:1 tx (0x[0-9a-f]{64})/);
  await sigkill(p);

  // Restart; round 1 commits; epoch 2 is opened in the ledger and the process dies before sending it.
  p = await start('epoch-opened:2');
  await waitFor(p, /reconciled unposted epoch\(s\) 1 with the chain/);
  await playRound(live.vs, data);
  await waitFor(p, /FAULT epoch-opened:2/);
  await sigkill(p);

  // Restart without faults: epoch 2 is posted at startup; round 2 commits and epoch 3 follows.
  p = await start();
  await waitFor(p, /reconciled unposted epoch\(s\) 2 with the chain/);
  await playRound(live.vs, data);
  await waitFor(p, /epoch 3 posted/);

  // The chain: one EpochPosted per epoch, with the roots the ledger built.
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  const run = live.vs[0].chain;
  const logs = await client.getContractEvents({ address: run.distributor, abi: rewardDistributorAbi, eventName: 'EpochPosted', fromBlock: 0n });
  assert.deepEqual(
    logs.map((l) => Number(l.args.epoch)),
    [1, 2, 3],
    'each epoch posted exactly once, in order',
  );
  assert.equal(logs[0].transactionHash, sent.split(' tx ')[1], 'epoch 1 is the transaction sent before the kill, recorded after the restart');
  const dash = await new CoordinatorApi(p.url).dashboard();
  assert.deepEqual(
    dash.epochs.map((e) => [e.epoch, e.root, e.txHash]),
    logs.map((l) => [Number(l.args.epoch), l.args.root, l.transactionHash]),
    'the ledger records the roots and transactions on chain',
  );
  assert.deepEqual(
    dash.rounds.map((r) => r.round),
    [0, 1, 2],
  );

  // Claims: each pays exactly the ledger's credit (3 rounds × STEPS × BATCH samples), once.
  for (const [i, v] of live.vs.entries()) {
    const account = v.address as Address;
    const summary = await new CoordinatorApi(p.url).account(account);
    const expected = 3n * BigInt(STEPS * BATCH) * WEI_PER_SAMPLE;
    assert.equal(BigInt(summary.creditWei), expected, `ledger credit of volunteer ${i}`);
    assert.ok(summary.claimable, `volunteer ${i} has a claim`);
    assert.equal(BigInt(summary.claimable.cumulativeWei), expected);
    const claim = {
      rpcUrl: anvil.rpcUrl,
      chainId: run.chainId,
      distributor: run.distributor,
      privateKey: keys[i],
      account,
      cumulative: expected,
      proof: summary.claimable.proof as Hex[],
      pollingInterval: 100,
    };
    const before = await balanceOf(client, run.token, account);
    await claimReward(claim);
    assert.equal((await balanceOf(client, run.token, account)) - before, expected, `volunteer ${i} is paid exactly the ledger amount`);
    await assert.rejects(claimReward(claim), (e) => e instanceof ClaimError && e.reason === 'NothingToClaim', 'a second claim reverts');
    assert.equal((await balanceOf(client, run.token, account)) - before, expected);
  }
});

async function balanceOf(client: ReturnType<typeof createPublicClient>, token: Address, account: Address): Promise<bigint> {
  return client.readContract({ address: token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [account] });
}
