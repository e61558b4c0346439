// Checking a reward leaf against a Merkle root with nothing but viem: what the contract's
// claim() does (OpenZeppelin MerkleProof, sorted pairs, double-hashed leaves), so a volunteer
// can see in the browser that the ledger's credit is in the root posted on chain.
import { concat, encodeAbiParameters, keccak256, type Address, type Hex } from 'viem';

/** keccak256(bytes.concat(keccak256(abi.encode(account, cumulative)))), as StandardMerkleTree ['address','uint256']. */
export function rewardLeaf(account: Address, cumulative: bigint): Hex {
  return keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [account, cumulative])));
}

/** The root a proof leads to from a leaf (pairs hashed in ascending order). */
export function processRewardProof(leaf: Hex, proof: readonly Hex[]): Hex {
  return proof.reduce<Hex>((h, sibling) => {
    const [a, b] = h.toLowerCase() < sibling.toLowerCase() ? [h, sibling] : [sibling, h];
    return keccak256(concat([a, b]));
  }, leaf);
}

export function verifyRewardProof(args: { account: Address; cumulative: bigint; proof: readonly Hex[]; root: Hex }): boolean {
  return processRewardProof(rewardLeaf(args.account, args.cumulative), args.proof).toLowerCase() === args.root.toLowerCase();
}
