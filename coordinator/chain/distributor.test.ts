// The RewardDistributor contract under attack, through the same claimReward() the browser uses.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { createPublicClient, createWalletClient, encodeAbiParameters, http, keccak256, parseAbiParameters, toHex, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { rewardDistributorAbi } from '../../shared/chain/abi.ts';
import { DEV_DEPLOYER_KEY, startAnvil, type Anvil, type DevAccount } from './anvil.ts';
import { connectChain, type Chain } from './chain.ts';
import { claimReward, ClaimError, type ClaimRejection } from '../../shared/chain/claim.ts';
import { decodeRevert } from '../../shared/chain/errors.ts';
import { buildRewardTree, REWARD_LEAF_TYPES, rewardLeaf, type RewardTree } from './merkle.ts';
import { TEST_CACHE_DIR } from './test-support.ts';

// The leaf-encoding test vector, shared by TypeScript and Solidity. If either side changes its
// encoding, this constant stops matching and every proof the coordinator issues would be void.
const LEAF_VECTOR = {
  account: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address,
  cumulative: 10n ** 18n,
  leaf: '0x48b89d46ac36bc91cff52fda8f367663966eeb47da22a76a3f52c1ed976504ee' as Hex,
};

const modelHash = (n: number): Hex => keccak256(toHex(`model ${n}`));

let anvil: Anvil;
let chain: Chain;
let alice: DevAccount, bob: DevAccount, carol: DevAccount, mallory: DevAccount, dave: DevAccount;
let epoch1: RewardTree;
let epoch2: RewardTree;

before(async () => {
  anvil = await startAnvil();
  [, alice, bob, carol, mallory, dave] = anvil.accounts as DevAccount[];
  chain = await connectChain({ rpcUrl: anvil.rpcUrl, deployerKey: DEV_DEPLOYER_KEY, cacheDir: TEST_CACHE_DIR });
});
after(() => anvil?.stop());

/** Submit a claim from `submitter`'s key for the leaf (account, cumulative) with `proof`. */
function claim(submitter: DevAccount, account: Address, cumulative: bigint, proof: readonly Hex[]): Promise<Hex> {
  return claimReward({
    rpcUrl: anvil.rpcUrl,
    chainId: chain.chainId,
    distributor: chain.distributor,
    privateKey: submitter.privateKey,
    account,
    cumulative,
    proof,
  });
}

function claimFromTree(submitter: DevAccount, tree: RewardTree, account: Address): Promise<Hex> {
  const p = tree.proofOf(account);
  assert.ok(p, `no leaf for ${account}`);
  return claim(submitter, account, p.cumulative, p.proof);
}

async function rejectsWith(promise: Promise<unknown>, reason: ClaimRejection): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ClaimError, `expected ClaimError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

test('leaf encoding: TS (viem), the merkle-tree library and the contract agree on the test vector', async () => {
  const { account, cumulative, leaf } = LEAF_VECTOR;
  // Computed from first principles here, independently of merkle.ts.
  const byHand = keccak256(keccak256(encodeAbiParameters(parseAbiParameters('address, uint256'), [account, cumulative])));
  assert.equal(byHand, leaf);
  assert.equal(rewardLeaf(account, cumulative), leaf);
  assert.equal(StandardMerkleTree.of([[account, cumulative.toString()]], [...REWARD_LEAF_TYPES]).root, leaf);
  const onChain = await createPublicClient({ transport: http(anvil.rpcUrl) }).readContract({
    address: chain.distributor,
    abi: rewardDistributorAbi,
    functionName: 'leaf',
    args: [account, cumulative],
  });
  assert.equal(onChain, leaf);
});

test('before any epoch, every claim is an InvalidProof', async () => {
  await rejectsWith(claim(alice, alice.address, 1n, []), 'InvalidProof');
});

test('epoch 1: a claim pays exactly the cumulative amount; a second claim has nothing to pay', async () => {
  epoch1 = buildRewardTree([
    { account: alice.address, cumulative: 100n },
    { account: bob.address, cumulative: 50n },
  ]);
  await chain.postEpoch(1, epoch1.root, modelHash(1));

  await claimFromTree(alice, epoch1, alice.address);
  assert.equal(await chain.balanceOf(alice.address), 100n);
  assert.equal(await chain.claimedOf(alice.address), 100n);

  await rejectsWith(claimFromTree(alice, epoch1, alice.address), 'NothingToClaim');
  assert.equal(await chain.balanceOf(alice.address), 100n);
});

test('epoch 2: claims pay the difference since the last claim, whoever submits them', async () => {
  epoch2 = buildRewardTree([
    { account: alice.address, cumulative: 250n },
    { account: bob.address, cumulative: 50n },
    { account: carol.address, cumulative: 30n },
  ]);
  await chain.postEpoch(2, epoch2.root, modelHash(2));
  const distributorBefore = await chain.balanceOf(chain.distributor);

  // A proof for the previous root no longer verifies (only the current root is claimable).
  await rejectsWith(claimFromTree(alice, epoch1, alice.address), 'InvalidProof');

  await claimFromTree(alice, epoch2, alice.address);
  assert.equal(await chain.balanceOf(alice.address), 250n, 'alice gets 150 more, not 250');
  assert.equal(await chain.claimedOf(alice.address), 250n);

  // Bob never claimed in epoch 1: he gets his whole cumulative amount now.
  await claimFromTree(bob, epoch2, bob.address);
  assert.equal(await chain.balanceOf(bob.address), 50n);

  // Mallory submits Carol's valid claim: Carol is paid, Mallory only pays the gas.
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  const [carolEth, malloryEth] = [await client.getBalance({ address: carol.address }), await client.getBalance({ address: mallory.address })];
  await claimFromTree(mallory, epoch2, carol.address);
  assert.equal(await chain.balanceOf(carol.address), 30n);
  assert.equal(await chain.balanceOf(mallory.address), 0n);
  assert.equal(await client.getBalance({ address: carol.address }), carolEth);
  assert.ok((await client.getBalance({ address: mallory.address })) < malloryEth);

  assert.equal(await chain.balanceOf(chain.distributor), distributorBefore - 150n - 50n - 30n);
});

test('adversarial claims against epoch 2 revert with InvalidProof or NothingToClaim', async () => {
  const carolProof = epoch2.proofOf(carol.address)!;
  const aliceProof = epoch2.proofOf(alice.address)!;

  // Wrong proof: another leaf's proof, a forged sibling, no proof at all.
  await rejectsWith(claim(carol, carol.address, 30n, aliceProof.proof), 'InvalidProof');
  await rejectsWith(claim(carol, carol.address, 30n, [keccak256(toHex('forged'))]), 'InvalidProof');
  await rejectsWith(claim(carol, carol.address, 30n, []), 'InvalidProof');
  // Claiming more than the leaf's cumulative amount.
  await rejectsWith(claim(alice, alice.address, 251n, aliceProof.proof), 'InvalidProof');
  // Someone else's leaf with the wrong account: the submitter's own, and an outsider's.
  await rejectsWith(claim(mallory, mallory.address, 30n, carolProof.proof), 'InvalidProof');
  await rejectsWith(claim(mallory, dave.address, 30n, carolProof.proof), 'InvalidProof');
  // Double claims.
  await rejectsWith(claim(mallory, carol.address, 30n, carolProof.proof), 'NothingToClaim');
  await rejectsWith(claimFromTree(bob, epoch2, bob.address), 'NothingToClaim');

  assert.equal(await chain.balanceOf(mallory.address), 0n);
  assert.equal(await chain.balanceOf(dave.address), 0n);
  assert.equal(await chain.balanceOf(carol.address), 30n);
});

test('a cumulative amount that went down (a coordinator bug) pays nothing', async () => {
  const shrunk = buildRewardTree([{ account: alice.address, cumulative: 200n }]);
  await chain.postEpoch(3, shrunk.root, modelHash(3));
  await rejectsWith(claimFromTree(alice, shrunk, alice.address), 'NothingToClaim');
  assert.equal(await chain.claimedOf(alice.address), 250n);
});

test('only the owner can post, and only a strictly increasing epoch', async () => {
  const client = createPublicClient({ transport: http(anvil.rpcUrl) });
  const outsider = privateKeyToAccount(alice.privateKey);
  const tryPost = async (who: typeof outsider, epoch: bigint) => {
    try {
      await client.simulateContract({
        address: chain.distributor,
        abi: rewardDistributorAbi,
        functionName: 'postEpoch',
        args: [epoch, keccak256(toHex('evil root')), modelHash(99)],
        account: who,
      });
    } catch (err) {
      return decodeRevert(err);
    }
    return undefined;
  };
  const notOwner = await tryPost(outsider, 100n);
  assert.equal(notOwner?.errorName, 'OwnableUnauthorizedAccount');
  assert.deepEqual(notOwner?.args, [alice.address]);

  // Also with a real transaction, not only a simulation: it must be mined as a revert.
  const wallet = createWalletClient({ transport: http(anvil.rpcUrl), account: outsider });
  const hash = await wallet.writeContract({
    address: chain.distributor,
    abi: rewardDistributorAbi,
    functionName: 'postEpoch',
    args: [100n, keccak256(toHex('evil root')), modelHash(99)],
    gas: 200_000n, // skip estimation, which would refuse
    chain: null,
  });
  assert.equal((await client.waitForTransactionReceipt({ hash })).status, 'reverted');

  const owner = privateKeyToAccount(DEV_DEPLOYER_KEY);
  for (const stale of [3n, 2n]) {
    const r = await tryPost(owner, stale);
    assert.equal(r?.errorName, 'EpochNotIncreasing');
    assert.deepEqual(r?.args, [stale, 3n]);
  }
  assert.equal(await tryPost(owner, 4n), undefined, 'the owner with a new epoch is accepted');
  assert.equal(await chain.lastEpoch(), 3n);
});

test('claimCount counts the Claimed events of successful claims only, and the events carry the amounts', async () => {
  assert.equal(await chain.claimCount(), 4); // alice twice, bob, carol
  const logs = await createPublicClient({ transport: http(anvil.rpcUrl) }).getContractEvents({
    address: chain.distributor,
    abi: rewardDistributorAbi,
    eventName: 'Claimed',
    fromBlock: chain.addresses.deployBlock,
  });
  assert.deepEqual(
    logs.map((l) => [l.args.account, l.args.amount, l.args.cumulativeAmount]),
    [
      [alice.address, 100n, 100n],
      [alice.address, 150n, 250n],
      [bob.address, 50n, 50n],
      [carol.address, 30n, 30n],
    ],
  );
});

test('a claim for another chain id is refused before signing', async () => {
  const p = epoch2.proofOf(alice.address)!;
  await rejectsWith(
    claimReward({
      rpcUrl: anvil.rpcUrl,
      chainId: 1,
      distributor: chain.distributor,
      privateKey: alice.privateKey,
      account: alice.address,
      cumulative: p.cumulative,
      proof: p.proof,
    }),
    'WrongChain',
  );
});
