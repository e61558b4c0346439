import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPublicClient, http, keccak256, parseEther, toHex, zeroHash, type Hex } from 'viem';
import { startAnvil, DEV_DEPLOYER_KEY, type Anvil } from './anvil.ts';
import { connectChain, type Chain } from './chain.ts';
import { ChainError } from '../../shared/chain/errors.ts';
import { TEST_CACHE_DIR } from './test-support.ts';

const root = (n: number): Hex => keccak256(toHex(`root ${n}`));
const model = (n: number): Hex => keccak256(toHex(`model ${n}`));

let anvil: Anvil;
let chain: Chain;

before(async () => {
  anvil = await startAnvil();
  chain = await connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: DEV_DEPLOYER_KEY, cacheDir: TEST_CACHE_DIR });
});
after(() => anvil?.stop());

test('deploys token and distributor and funds the distributor with the whole supply', async () => {
  assert.equal(chain.deployedNow, true);
  assert.equal(chain.chainId, 31337);
  assert.equal(chain.deployer, anvil.accounts[0]!.address);
  assert.notEqual(chain.token, chain.distributor);
  assert.equal(await chain.balanceOf(chain.distributor), parseEther('1000000000'));
  assert.equal(await chain.balanceOf(chain.deployer), 0n);
  assert.equal(await chain.epochCount(), 0n);
  assert.equal(await chain.lastEpoch(), undefined);
  assert.equal(await chain.currentRoot(), zeroHash);
  assert.equal(await chain.claimCount(), 0);
});

test('postEpoch stores root and model hash; epochs must strictly increase, starting anywhere', async () => {
  const first = await chain.postEpoch(0, root(0), model(0));
  assert.match(first.txHash, /^0x[0-9a-f]{64}$/);
  assert.equal(await chain.lastEpoch(), 0n); // epoch 0 is a real epoch, not "none yet"
  await chain.postEpoch(5n, root(5), model(5));
  assert.equal(await chain.lastEpoch(), 5n);
  assert.equal(await chain.epochCount(), 2n);
  assert.equal(await chain.currentRoot(), root(5));
  assert.equal(await chain.latestModelHash(), model(5));

  for (const stale of [5, 4, 0]) {
    await assert.rejects(chain.postEpoch(stale, root(9), model(9)), (err: unknown) => {
      assert.ok(err instanceof ChainError);
      assert.equal(err.code, 'TX_REVERTED');
      assert.match(err.shortMessage, new RegExp(`postEpoch\\(${stale}\\) failed: EpochNotIncreasing\\(${stale}, 5\\)`));
      return true;
    });
  }
  assert.equal(await chain.currentRoot(), root(5), 'a rejected post must not change the root');

  // The event carries what was posted.
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  const receipt = await client.getTransactionReceipt({ hash: first.txHash });
  assert.equal(receipt.blockNumber, first.blockNumber);
  assert.equal(receipt.logs.length, 1);
});

test('malformed arguments are refused before anything is sent', async () => {
  // Awaited as promises: argument errors must reject, not throw synchronously.
  const bad = (p: Promise<unknown>, pattern: RegExp) =>
    assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ChainError && err.code === 'INVALID_ARGUMENT', String(err));
      assert.match(err.message, pattern);
      return true;
    });
  await bad(chain.postEpoch(6, '0x1234', model(6)), /root must be 32 bytes/);
  await bad(chain.postEpoch(-1, root(6), model(6)), /uint64/);
  await bad(chain.postEpoch(2n ** 64n, root(6), model(6)), /uint64/);
  await bad(chain.postEpoch(1.5, root(6), model(6)), /integer/);
  await bad(chain.fundGas('0xnope', 1n), /not a valid address/);
  await bad(chain.fundGas(anvil.accounts[5]!.address, 0n), /positive/);
});

test('fundGas sends native coin from the deployer, also when called concurrently', async () => {
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  const fresh = ['0x1000000000000000000000000000000000000001', '0x1000000000000000000000000000000000000002'] as const;
  // Concurrent sends from one key would race for the same nonce without chain.ts's queue.
  await Promise.all([chain.fundGas(fresh[0], parseEther('0.5')), chain.fundGas(fresh[1], parseEther('0.25'))]);
  assert.equal(await client.getBalance({ address: fresh[0] }), parseEther('0.5'));
  assert.equal(await client.getBalance({ address: fresh[1] }), parseEther('0.25'));
});

test('reconnecting with saved addresses attaches without deploying', async () => {
  const again = await connectChain({
    rpcUrl: anvil.rpcUrl,
    deployerKey: DEV_DEPLOYER_KEY,
    cacheDir: TEST_CACHE_DIR,
    addresses: chain.addresses,
  });
  assert.equal(again.deployedNow, false);
  assert.deepEqual(again.addresses, chain.addresses);
  assert.equal(await again.currentRoot(), await chain.currentRoot());
});

test('saved addresses owned by another key are refused with NOT_OWNER', async () => {
  await assert.rejects(
    connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: anvil.accounts[1]!.privateKey, cacheDir: TEST_CACHE_DIR, addresses: chain.addresses }),
    (err: unknown) => err instanceof ChainError && err.code === 'NOT_OWNER' && err.message.includes(chain.deployer),
  );
});

test('saved addresses pointing at the wrong token are refused with CONTRACT_MISMATCH', async () => {
  await assert.rejects(
    connectChain({
      rpcUrl: anvil.rpcUrl,
      deployerKey: DEV_DEPLOYER_KEY,
      cacheDir: TEST_CACHE_DIR,
      addresses: { ...chain.addresses, token: chain.distributor },
    }),
    (err: unknown) => err instanceof ChainError && err.code === 'CONTRACT_MISMATCH',
  );
});

test('saved addresses on a chain without that code (a fresh anvil) trigger a new deployment', async () => {
  const fresh = await startAnvil();
  try {
    const redeployed = await connectChain({
      rpcUrl: fresh.rpcUrl,
      deployerKey: DEV_DEPLOYER_KEY,
      cacheDir: TEST_CACHE_DIR,
      addresses: { token: '0x2000000000000000000000000000000000000002', distributor: '0x2000000000000000000000000000000000000003', deployBlock: 0n },
      tokenSupply: 1000n,
      distributorFunding: 600n,
    });
    assert.equal(redeployed.deployedNow, true);
    assert.equal(await redeployed.balanceOf(redeployed.distributor), 600n);
    assert.equal(await redeployed.balanceOf(redeployed.deployer), 400n);
  } finally {
    await fresh.stop();
  }
});

test('contracts and epochs survive an anvil restart when anvil has a dataDir', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'idlegrad-chain-'));
  try {
    const first = await startAnvil({ dataDir });
    let saved;
    try {
      const c = await connectChain({ rpcUrl: first.rpcUrl, deployerKey: DEV_DEPLOYER_KEY, cacheDir: TEST_CACHE_DIR });
      await c.postEpoch(1, root(1), model(1));
      saved = c.addresses;
    } finally {
      await first.stop();
    }
    const second = await startAnvil({ dataDir });
    try {
      const c = await connectChain({ rpcUrl: second.rpcUrl, deployerKey: DEV_DEPLOYER_KEY, cacheDir: TEST_CACHE_DIR, addresses: saved });
      assert.equal(c.deployedNow, false);
      assert.equal(await c.lastEpoch(), 1n);
      assert.equal(await c.currentRoot(), root(1));
      await c.postEpoch(2, root(2), model(2)); // and the chain goes on from there
      assert.equal(await c.epochCount(), 2n);
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
