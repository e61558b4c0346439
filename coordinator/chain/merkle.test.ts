import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { Address } from 'viem';
import { ChainError } from '../../shared/chain/errors.ts';
import { buildRewardTree, loadRewardTree, REWARD_LEAF_TYPES, rewardLeaf, type RewardEntry } from './merkle.ts';

const A: Address = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const B: Address = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const C: Address = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const entries: RewardEntry[] = [
  { account: A, cumulative: 100n },
  { account: B, cumulative: 50n },
  { account: C, cumulative: 10n ** 30n },
];

test('the root does not depend on input order or address letter case', () => {
  const forward = buildRewardTree(entries);
  const shuffled = buildRewardTree([entries[2]!, { ...entries[0]!, account: A.toLowerCase() as Address }, entries[1]!]);
  assert.equal(shuffled.root, forward.root);
  assert.deepEqual(shuffled.dump(), forward.dump());
  assert.deepEqual(
    forward.entries.map((e) => e.account),
    [A, B, C].sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1)),
  );
});

test('every proof verifies against the root with the StandardMerkleTree verifier', () => {
  const tree = buildRewardTree(entries);
  for (const { account, cumulative } of entries) {
    const p = tree.proofOf(account.toLowerCase() as Address);
    assert.ok(p, `no proof for ${account}`);
    assert.equal(p.cumulative, cumulative);
    assert.ok(StandardMerkleTree.verify(tree.root, [...REWARD_LEAF_TYPES], [account, cumulative.toString()], p.proof));
    // …and not for a different amount
    assert.ok(!StandardMerkleTree.verify(tree.root, [...REWARD_LEAF_TYPES], [account, (cumulative + 1n).toString()], p.proof));
  }
  assert.equal(tree.proofOf('0x0000000000000000000000000000000000000001'), undefined);
});

test('a single-entry tree has the leaf as root and an empty proof', () => {
  const tree = buildRewardTree([{ account: A, cumulative: 7n }]);
  assert.equal(tree.root, rewardLeaf(A, 7n));
  assert.deepEqual(tree.proofOf(A)?.proof, []);
});

test('dump() is JSON and loadRewardTree() restores the same root and proofs', () => {
  const tree = buildRewardTree(entries);
  const restored = loadRewardTree(JSON.parse(JSON.stringify(tree.dump())));
  assert.equal(restored.root, tree.root);
  assert.deepEqual(restored.proofOf(B), tree.proofOf(B));
  assert.deepEqual(restored.entries, tree.entries);
});

test('bad input is rejected with a clear ChainError', () => {
  const rejects = (bad: RewardEntry[], pattern: RegExp) =>
    assert.throws(
      () => buildRewardTree(bad),
      (err: unknown) => err instanceof ChainError && err.code === 'INVALID_TREE' && pattern.test(err.message),
    );
  rejects(
    [
      { account: A, cumulative: 1n },
      { account: A.toLowerCase() as Address, cumulative: 2n },
    ],
    /duplicate account 0x7099.*entries\[1\]/,
  );
  rejects([{ account: B, cumulative: -1n }], /entries\[0\]\.cumulative is negative \(-1\)/);
  rejects([{ account: B, cumulative: 2n ** 256n }], /exceeds uint256/);
  rejects([{ account: '0x1234' as Address, cumulative: 1n }], /not a valid address: 0x1234/);
  rejects([{ account: B, cumulative: 5 as unknown as bigint }], /must be a bigint/);
  rejects([], /no entries/);
});
