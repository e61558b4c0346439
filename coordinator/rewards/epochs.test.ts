// Reward epochs land on chain exactly once, even when the coordinator dies between
// opening an epoch in the ledger and recording its transaction; claims then pay exactly
// the ledger's amounts, once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address, Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { claimReward, ClaimError } from '../../shared/chain/claim.ts';
import { type Sql, Ledger } from '../db/index.ts';
import { LEDGER_BACKENDS } from '../db/test-databases.ts';
import { startAnvil, DEV_ACCOUNT_KEYS, connectChain, type Chain, buildRewardTree } from '../chain/index.ts';
import { Rewards, type ChainPort } from './epochs.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'idlegrad-rewards-'));
const anvil = await startAnvil();
after(async () => {
  await anvil.stop();
  rmSync(cacheDir, { recursive: true, force: true });
});

const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const accounts = anvil.accounts.slice(1, 4).map((a) => a.address.toLowerCase() as Address);

async function setup(chain: Chain, open: () => Promise<Sql>) {
  const sql = await open();
  const ledger = new Ledger(sql);
  const params = initParams(modelOf(run), 1);
  await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
  const credit = async (account: Address, nonce: bigint, wei: bigint) => {
    const h = `0x${nonce.toString(16).padStart(64, '0')}` as Hex;
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
  const port: ChainPort = {
    chainId: chain.chainId,
    rpcUrl: anvil.rpcUrl,
    distributor: chain.distributor,
    token: chain.token,
    postEpoch: (e, root, m) => chain.postEpoch(e, root, m),
    fundGas: async (a, wei) => (await chain.fundGas(a, wei)).txHash,
  };
  return { sql, ledger, credit, port };
}

for (const backend of LEDGER_BACKENDS)
  for (const crash of ['after the transaction was sent', 'before the transaction was sent'] as const) {
    test(`${backend.name}: an epoch interrupted ${crash} is posted exactly once after a restart`, { timeout: 60_000, skip: backend.skip }, async (t) => {
      const chain = await connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: DEV_ACCOUNT_KEYS[0], cacheDir, pollingInterval: 100 });
      const { sql, ledger, credit, port } = await setup(chain, backend.open);
      t.after(() => sql.close());
      await credit(accounts[0], 1n, 3000n);
      await credit(accounts[1], 2n, 5000n);
      const modelHash = `0x${'77'.repeat(32)}` as Hex;

      // The coordinator opens epoch 1 and dies: with or without its transaction on chain.
      const { credit: leaves, ids } = await ledger.epochCredit();
      const tree = buildRewardTree(leaves);
      await ledger.openEpoch({ epoch: 1, runId: run.id, round: 2, root: tree.root, modelHash, totalWei: 8000n, accounts: 2, tree: tree.dump(), ids });
      if (crash === 'after the transaction was sent') await chain.postEpoch(1, tree.root, modelHash);
      assert.deepEqual(await ledger.epochs(), [], 'the ledger has no record of a posted epoch');

      // Restart: reconcile, then the run goes on to the next epoch.
      const epochs: number[] = [];
      const rewards = new Rewards(ledger, port, run, (e) => epochs.push(e));
      assert.deepEqual(await rewards.reconcile(), [1]);
      assert.equal(await chain.epochCount(), 1n, 'the root is on chain exactly once');
      assert.equal(await chain.currentRoot(), tree.root);
      assert.equal((await ledger.epochs())[0].root, tree.root);
      assert.deepEqual(await rewards.reconcile(), [], 'nothing left to reconcile');

      await credit(accounts[2], 3n, 7000n);
      assert.equal(await rewards.postEpoch(5, modelHash), 2);
      assert.equal(await chain.epochCount(), 2n);
      assert.deepEqual(epochs, [1, 2]);

      // Every claim pays exactly the ledger's cumulative amount; a second claim pays nothing.
      for (const [i, account] of accounts.entries()) {
        const c = await rewards.claimable(account);
        assert.ok(c, `${account} has a claim`);
        const key = anvil.accounts[i + 1].privateKey;
        const tx = await claimReward({
          rpcUrl: anvil.rpcUrl,
          chainId: chain.chainId,
          distributor: chain.distributor,
          privateKey: key,
          account,
          cumulative: BigInt(c.cumulativeWei),
          proof: c.proof,
          pollingInterval: 100,
        });
        await rewards.confirmClaim(account, tx);
        assert.equal(await chain.balanceOf(account), [3000n, 5000n, 7000n][i]);
        await assert.rejects(
          claimReward({
            rpcUrl: anvil.rpcUrl,
            chainId: chain.chainId,
            distributor: chain.distributor,
            privateKey: key,
            account,
            cumulative: BigInt(c.cumulativeWei),
            proof: c.proof,
            pollingInterval: 100,
          }),
          (e) => e instanceof ClaimError && e.reason === 'NothingToClaim',
        );
        assert.equal(await rewards.claimable(account), undefined);
      }
    });
  }

test('proofs: a hello reads the epoch tree held in memory; it is loaded once per epoch, after a restart or an epoch posted elsewhere', async (t) => {
  const chain = await connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: DEV_ACCOUNT_KEYS[0], cacheDir, pollingInterval: 100 });
  const { sql, ledger, credit, port } = await setup(chain, LEDGER_BACKENDS[0].open);
  t.after(() => sql.close());
  let loads = 0;
  const latestPostedTree = ledger.latestPostedTree.bind(ledger);
  ledger.latestPostedTree = () => (loads++, latestPostedTree());
  const modelHash = `0x${'55'.repeat(32)}` as Hex;
  await credit(accounts[0], 11n, 3000n);
  await credit(accounts[1], 12n, 5000n);

  const rewards = new Rewards(ledger, port, run, () => {});
  assert.equal(await rewards.claimable(accounts[0]), undefined, 'no epoch posted yet');
  assert.equal(await rewards.postEpoch(2, modelHash), 1);
  const tree = buildRewardTree([
    { account: accounts[0], cumulative: 3000n },
    { account: accounts[1], cumulative: 5000n },
  ]);
  for (let i = 0; i < 3; i++) {
    const c = await rewards.claimable(accounts[0]);
    assert.deepEqual(c, { epoch: 1, cumulativeWei: '3000', proof: tree.proofOf(accounts[0])!.proof });
    assert.equal((await rewards.rewardProof(accounts[1])).root, tree.root);
  }
  assert.equal((await rewards.summaries([accounts[0], accounts[1], accounts[2]])).get(accounts[2])!.claimable, undefined);
  await assert.rejects(rewards.rewardProof(accounts[2]), /has no credit in a posted reward epoch/);
  assert.equal(loads, 0, 'the epoch it posted is held: no tree load per hello');

  // A restarted coordinator loads the tree once for any number of hellos.
  const restarted = new Rewards(ledger, port, run, () => {});
  await Promise.all([restarted.claimable(accounts[0]), restarted.claimable(accounts[1]), restarted.summary(accounts[0])]);
  assert.deepEqual((await restarted.claimable(accounts[1]))?.proof, tree.proofOf(accounts[1])!.proof);
  assert.equal(loads, 1);

  // An epoch posted by another process: the next hello sees it, with the new cumulative amounts.
  await credit(accounts[0], 13n, 1000n);
  assert.equal(await rewards.postEpoch(5, modelHash), 2);
  assert.deepEqual(await restarted.claimable(accounts[0]), (await rewards.claimable(accounts[0]))!);
  assert.equal((await restarted.claimable(accounts[0]))!.cumulativeWei, '4000');
  assert.equal((await restarted.claimable(accounts[0]))!.epoch, 2);
  assert.equal(loads, 2);
});
