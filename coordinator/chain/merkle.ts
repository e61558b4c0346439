// The cumulative reward tree of one epoch: leaves (account, total earned so far), encoded
// exactly as RewardDistributor.leaf(). Browser-safe (no node imports), so a volunteer page can
// check its proof against the posted root before paying gas.

import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { getAddress, isAddress, maxUint256, type Address, type Hex } from 'viem';
import { ChainError } from '../../shared/chain/errors.ts';
import { rewardLeaf } from '../../shared/chain/proof.ts';

/** Solidity types of a leaf, in order; the contract's `abi.encode(account, cumulativeAmount)`. */
export const REWARD_LEAF_TYPES = ['address', 'uint256'] as const;

export interface RewardEntry {
  account: Address;
  /** Total reward earned since the run began, in token base units (not the epoch's delta). */
  cumulative: bigint;
}

export interface RewardProof {
  cumulative: bigint;
  proof: Hex[];
}

/** A tree value as stored by @openzeppelin/merkle-tree; the amount is a decimal string so that
 *  dump() is plain JSON (JSON.stringify cannot serialize bigint). */
export type RewardTreeValue = [account: Address, cumulative: string];
// The package does not export its dump type from the entry point; derive it instead.
export type RewardTreeDump = ReturnType<StandardMerkleTree<RewardTreeValue>['dump']>;

export interface RewardTree {
  root: Hex;
  /** The validated entries, checksummed and sorted by account. */
  entries: readonly RewardEntry[];
  /** The proof for `account` (any letter case), or undefined if it has no leaf. */
  proofOf(account: Address): RewardProof | undefined;
  /** JSON-serializable form; loadRewardTree() restores it. */
  dump(): RewardTreeDump;
}

/**
 * The leaf hash of (account, cumulative): keccak256(keccak256(abi.encode(account, cumulative))).
 * The double hash is OpenZeppelin's StandardMerkleTree convention; it stops a 64-byte leaf
 * preimage from being passed off as an inner node (second-preimage attack).
 */
export { rewardLeaf };

function invalid(message: string): ChainError {
  return new ChainError('INVALID_TREE', message);
}

/**
 * Build the epoch's tree. Input order does not matter: entries are sorted by account first, so
 * the same balances always give the same root and the same dump.
 */
export function buildRewardTree(entries: readonly RewardEntry[]): RewardTree {
  if (entries.length === 0) throw invalid('cannot build a reward tree with no entries (skip posting this epoch)');
  const seen = new Set<string>();
  const normalized: RewardEntry[] = entries.map(({ account, cumulative }, i) => {
    if (typeof account !== 'string' || !isAddress(account)) {
      throw invalid(`entries[${i}].account is not a valid address: ${String(account)}`);
    }
    if (typeof cumulative !== 'bigint') throw invalid(`entries[${i}].cumulative must be a bigint, got ${typeof cumulative}`);
    if (cumulative < 0n) throw invalid(`entries[${i}].cumulative is negative (${cumulative}) for ${account}`);
    if (cumulative > maxUint256) throw invalid(`entries[${i}].cumulative exceeds uint256 for ${account}`);
    const key = account.toLowerCase();
    if (seen.has(key)) throw invalid(`duplicate account ${getAddress(account)} at entries[${i}]: merge its amounts first`);
    seen.add(key);
    return { account: getAddress(account), cumulative };
  });
  normalized.sort((a, b) => (a.account.toLowerCase() < b.account.toLowerCase() ? -1 : 1));
  const values = normalized.map((e): RewardTreeValue => [e.account, e.cumulative.toString()]);
  return wrap(StandardMerkleTree.of(values, [...REWARD_LEAF_TYPES]), normalized);
}

/** Restore a tree from dump(), e.g. after a coordinator restart. Checks its integrity. */
export function loadRewardTree(data: RewardTreeDump): RewardTree {
  const tree = StandardMerkleTree.load(data);
  tree.validate();
  if (tree.dump().leafEncoding.join(',') !== REWARD_LEAF_TYPES.join(',')) {
    throw invalid(`tree dump has leaf encoding [${data.leafEncoding.join(', ')}], expected [${REWARD_LEAF_TYPES.join(', ')}]`);
  }
  const entries = data.values.map(({ value: [account, amount] }) => ({ account: getAddress(account), cumulative: BigInt(amount) }));
  return wrap(tree, entries);
}

function wrap(tree: StandardMerkleTree<RewardTreeValue>, entries: readonly RewardEntry[]): RewardTree {
  const index = new Map<string, { treeIndex: number; cumulative: bigint }>();
  for (const [i, [account, amount]] of tree.entries()) {
    index.set(account.toLowerCase(), { treeIndex: i, cumulative: BigInt(amount) });
  }
  return {
    root: tree.root as Hex,
    entries,
    proofOf(account) {
      const hit = index.get(account.toLowerCase());
      return hit && { cumulative: hit.cumulative, proof: tree.getProof(hit.treeIndex) as Hex[] };
    },
    dump: () => tree.dump(),
  };
}
