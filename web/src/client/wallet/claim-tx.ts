// Claiming earned tokens from the RewardDistributor with the device key: dev-chain gas from
// the coordinator's faucet, then `claim(account, cumulative, proof)` (shared/chain/claim.ts),
// then tell the ledger.
import type { Address, Hex } from 'viem';
import { createPublicClient, createWalletClient, custom, defineChain, http } from 'viem';
import { claimAbi } from '../../../../shared/chain/abi.ts';
import type { Eip1193Provider } from './wallets.ts';
import type { PrivateKeyAccount } from 'viem/accounts';
import { claimReward } from '../../../../shared/chain/claim.ts';
import type { AccountSummary, ChainInfo } from '../../../../shared/wire/index.ts';
import type { CoordinatorApi } from '../api.ts';
import { describeError } from '../errors.ts';

export interface ClaimArgs {
  api: Pick<CoordinatorApi, 'faucet' | 'claimed'>;
  account: PrivateKeyAccount;
  chain: ChainInfo;
  claimable: NonNullable<AccountSummary['claimable']>;
  /** Page origin, to resolve a relative rpcUrl such as '/rpc'. */
  origin: string;
  log: (level: 'info' | 'warn' | 'error', text: string) => void;
  /** Receipt polling interval in ms. Default 500. */
  pollingInterval?: number;
}

/** Submits the claim and waits for it to be mined; returns the claim transaction hash. */
export async function claimTokens(a: ClaimArgs): Promise<Hex> {
  const rpcUrl = new URL(a.chain.rpcUrl, a.origin).href;
  const pollingInterval = a.pollingInterval ?? 500;
  const address = a.account.address as Address;
  try {
    const { txHash } = await a.api.faucet(address);
    a.log('info', `faucet sent gas (${txHash.slice(0, 10)}…)`);
    await createPublicClient({ transport: http(rpcUrl), pollingInterval }).waitForTransactionReceipt({ hash: txHash, timeout: 60_000 });
  } catch (e) {
    // The key may already hold gas from an earlier claim; the claim itself will tell.
    a.log('warn', `faucet: ${describeError(e)}`);
  }
  const hash = await claimReward({
    rpcUrl,
    chainId: a.chain.chainId,
    distributor: a.chain.distributor,
    signer: a.account,
    account: address,
    cumulative: BigInt(a.claimable.cumulativeWei),
    proof: a.claimable.proof,
    pollingInterval,
  });
  a.log('info', `claim mined (${hash.slice(0, 10)}…)`);
  try {
    await a.api.claimed(address, hash);
  } catch (e) {
    a.log('warn', `the claim is on chain, but telling the coordinator failed: ${describeError(e)}`);
  }
  return hash;
}

export interface WalletClaimArgs {
  api: Pick<CoordinatorApi, 'faucet' | 'claimed'>;
  /** The delegated wallet's EIP-1193 provider: it signs and sends the claim. */
  provider: Eip1193Provider;
  wallet: Address;
  chain: ChainInfo;
  /** The wallet's leaf: credit a device earns after its Delegation accrues to the wallet. */
  claimable: NonNullable<AccountSummary['claimable']>;
  origin: string;
  log: (level: 'info' | 'warn' | 'error', text: string) => void;
  pollingInterval?: number;
}

/**
 * Claims the delegated wallet's leaf from the wallet itself (eth_sendTransaction through its
 * provider): `claim(wallet, cumulative, proof)` pays the wallet. On the dev chain the faucet
 * first sends the wallet gas.
 */
export async function claimWithWallet(a: WalletClaimArgs): Promise<Hex> {
  const rpcUrl = new URL(a.chain.rpcUrl, a.origin).href;
  const pollingInterval = a.pollingInterval ?? 500;
  const publicClient = createPublicClient({ transport: http(rpcUrl), pollingInterval });
  try {
    const { txHash } = await a.api.faucet(a.wallet);
    await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 60_000 });
  } catch (e) {
    a.log('warn', `faucet: ${describeError(e)}`);
  }
  const chain = defineChain({
    id: a.chain.chainId,
    name: `chain ${a.chain.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const walletClient = createWalletClient({ chain, account: a.wallet, transport: custom(a.provider) });
  const hash = await walletClient.writeContract({
    address: a.chain.distributor,
    abi: claimAbi,
    functionName: 'claim',
    args: [a.wallet, BigInt(a.claimable.cumulativeWei), a.claimable.proof],
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 });
  if (receipt.status !== 'success') throw new Error(`the claim transaction ${hash} reverted`);
  a.log('info', `claim to wallet ${a.wallet} mined (${hash.slice(0, 10)}…)`);
  try {
    await a.api.claimed(a.wallet, hash);
  } catch (e) {
    a.log('warn', `the claim is on chain, but telling the coordinator failed: ${describeError(e)}`);
  }
  return hash;
}
