import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address } from 'viem';
import { buildRewardTree } from './merkle.ts';
import { rewardLeaf, verifyRewardProof } from '../../shared/chain/proof.ts';

const accounts = Array.from({ length: 5 }, (_, i) => `0x${String(i + 1).repeat(40)}` as Address);

test('every proof of the coordinator tree verifies in the browser-side checker, and nothing else does', () => {
  const tree = buildRewardTree(accounts.map((account, i) => ({ account, cumulative: BigInt(1000 * (i + 1)) })));
  for (const [i, account] of accounts.entries()) {
    const p = tree.proofOf(account)!;
    assert.ok(verifyRewardProof({ account, cumulative: p.cumulative, proof: p.proof, root: tree.root }), `account ${i}`);
    assert.equal(verifyRewardProof({ account, cumulative: p.cumulative + 1n, proof: p.proof, root: tree.root }), false, 'a larger amount');
    assert.equal(
      verifyRewardProof({ account: accounts[(i + 1) % 5], cumulative: p.cumulative, proof: p.proof, root: tree.root }),
      false,
      "another account's leaf",
    );
  }
  // The shared leaf test vector (coordinator/chain/merkle.test.ts, RewardDistributor.leaf).
  assert.equal(rewardLeaf('0x70997970C51812dc3A010C7d01b50e0d17dc79C8', 10n ** 18n), '0x48b89d46ac36bc91cff52fda8f367663966eeb47da22a76a3f52c1ed976504ee');
});
