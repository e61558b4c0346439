// A failed epoch post never stops the coordinator: with the chain's RPC down, and with the
// owner out of gas, the post fails, is retried with backoff and shown as failing, and lands
// on chain exactly once after the fault clears.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicClient, createTestClient, http, parseEther, type Address, type Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { LEDGER_BACKENDS } from '../db/test-databases.ts';
import { Ledger } from '../db/ledger.ts';
import { startAnvil } from '../chain/anvil.ts';
import { connectChain } from '../chain/chain.ts';
import { TEST_CACHE_DIR, eventually, startRpcProxy } from '../chain/test-support.ts';
import { Rewards } from './epochs.ts';
import { EpochPoster } from './epoch-poster.ts';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const anvil = await startAnvil();
// The coordinator reaches the chain through this proxy; `proxy.down` makes it refuse every request.
const proxy = await startRpcProxy(anvil.rpcUrl);
const rpcUrl = proxy.url;
after(async () => {
  proxy.close();
  await anvil.stop();
});

const run = runSpecOf(
  1,
  { ...DEFAULT_RUN, rewards: { ...DEFAULT_RUN.rewards, epochRounds: 1 } },
  { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 },
);
const direct = createPublicClient({ transport: http(anvil.rpcUrl) });
const cheats = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });

test('RPC down, then the owner without gas: the post is retried and lands once the fault clears', { timeout: 90_000 }, async (t) => {
  const ownerKey = generatePrivateKey();
  const owner = privateKeyToAccount(ownerKey).address;
  await cheats.setBalance({ address: owner, value: parseEther('10') });
  const chain = await connectChain({ rpcUrl, deployerKey: ownerKey, cacheDir: TEST_CACHE_DIR, pollingInterval: 50 });
  const sql = await LEDGER_BACKENDS[0].open();
  t.after(() => sql.close());
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), 1);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
  let nonce = 0n;
  const credit = async (account: Address, wei: bigint) => {
    const h = `0x${(++nonce).toString(16).padStart(64, '0')}` as Hex;
    const id = await ledger.insertPending(
      run.id,
      account,
      {
        run: 1,
        round: 0,
        cohort: 0,
        frameHash: h,
        aggregateHash: h,
        framesRoot: h,
        residualHash: h,
        samples: 1,
        steps: 1,
        lossBeforeMicro: 1,
        lossAfterMicro: 1,
        computeMs: 1,
        nonce,
        expiry: 9_999_999_999n,
        partner: '',
      },
      '0x',
    );
    await sql.query(`update contributions set state = 'accepted', verification = 'skipped', credit_wei = $2 where id = $1`, [id, wei.toString()]);
  };
  const rewards = new Rewards(
    ledger,
    {
      chainId: chain.chainId,
      rpcUrl,
      distributor: chain.distributor,
      token: chain.token,
      postEpoch: (e, r, m) => chain.postEpoch(e, r, m),
      fundGas: async (a, w) => (await chain.fundGas(a, w)).txHash,
    },
    run,
    () => {},
  );
  const lines: string[] = [];
  const poster = new EpochPoster(rewards, sql, { epochRounds: 1, runId: run.id, log: (l) => lines.push(l), baseDelayMs: 100, maxDelayMs: 400 });
  t.after(() => poster.stop());
  const epochCount = () =>
    direct.readContract({
      address: chain.distributor,
      abi: [{ type: 'function', name: 'epochCount', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint64' }] }] as const,
      functionName: 'epochCount',
    });
  const modelHash = `0x${'77'.repeat(32)}` as Hex;
  const [a, b] = [privateKeyToAccount(generatePrivateKey()).address, privateKeyToAccount(generatePrivateKey()).address];

  // 1. The RPC is down: afterCommit resolves (nothing thrown), the status says failing, nothing is on chain.
  await credit(a, 3000n);
  proxy.down = true;
  await poster.afterCommit(0, modelHash);
  assert.equal(poster.status.failing, true);
  assert.ok(poster.status.nextRetryAt! > Date.now() - 1000);
  assert.ok(await eventually(() => poster.status.attempts >= 3, 20_000), 'retried with backoff while down');
  assert.equal(await epochCount(), 0n);
  proxy.down = false;
  assert.ok(await eventually(() => !poster.status.failing, 20_000), `recovered: ${lines.join('\n')}`);
  assert.equal(await epochCount(), 1n);
  assert.deepEqual(
    (await ledger.epochs()).map((e) => e.epoch),
    [1],
  );

  // 2. The owner has no gas: the ledger opens epoch 2, its transaction fails; once funded, the
  // same epoch is posted (reconciled), not a second copy.
  await credit(b, 5000n);
  await cheats.setBalance({ address: owner, value: 0n });
  await poster.afterCommit(1, modelHash);
  assert.equal(poster.status.failing, true);
  assert.match(poster.status.lastError!, /fund|balance|gas/i);
  assert.equal(await epochCount(), 1n);
  await cheats.setBalance({ address: owner, value: parseEther('10') });
  assert.ok(await eventually(() => !poster.status.failing, 20_000), `recovered: ${lines.join('\n')}`);
  assert.equal(await epochCount(), 2n, 'epoch 2 posted once');
  const epochs = await ledger.epochs();
  assert.deepEqual(
    epochs.map((e) => [e.epoch, e.accounts, e.totalWei]),
    [
      [1, 1, '3000'],
      [2, 2, '8000'],
    ],
  );
  assert.equal(
    await direct.readContract({
      address: chain.distributor,
      abi: [{ type: 'function', name: 'merkleRoot', stateMutability: 'view', inputs: [], outputs: [{ type: 'bytes32' }] }] as const,
      functionName: 'merkleRoot',
    }),
    epochs[1].root,
  );
  assert.match(lines.join('\n'), /posting the epoch after round 0 failed \(attempt 1\)/);
  assert.match(lines.join('\n'), /recovered after \d+ failed attempt/);

  // 3. Nothing new to post: a later boundary with the same credit posts nothing twice.
  await poster.afterCommit(1, modelHash);
  assert.equal(await epochCount(), 2n);
});
