// The chain module's public surface for the coordinator. index.test.ts pins this list.
// Browser-safe parts (no node imports): abi.ts, claim.ts, merkle.ts, errors.ts.

export { rewardDistributorAbi, rewardTokenAbi, claimAbi } from '../../shared/chain/abi.ts';
export { startAnvil, DEV_ACCOUNT_KEYS, DEV_DEPLOYER_KEY, type Anvil, type AnvilOptions, type DevAccount } from './anvil.ts';
export { embeddedOwner, ownerAddress, OWNER_KEY_FILE } from './owner-key.ts';
export { connectChain, type Chain, type ChainAddresses, type ChainConfig, type TxResult } from './chain.ts';
export { claimReward, ClaimError, type ClaimRewardParams, type ClaimRejection } from '../../shared/chain/claim.ts';
export { compileContracts, PREBUILT_CONTRACTS_DIR, type CompiledContract, type CompiledContracts } from './compile.ts';
export { ChainError, decodeRevert, type ChainErrorCode } from '../../shared/chain/errors.ts';
export { buildRewardTree, loadRewardTree, rewardLeaf, type RewardEntry, type RewardProof, type RewardTree, type RewardTreeDump } from './merkle.ts';
