// Claiming earned tokens from the RewardDistributor with the device key: dev-chain gas from
// the coordinator's faucet, then `claim(account, cumulative, proof)` (shared/chain/claim.ts),
// then tell the ledger.
import type { Address, Hex } from 'viem';
import { createPublicClient, createWalletClient, custom, defineChain, http } from 'viem';
import { claimAbi } from '../../../../shared/chain/abi.ts';
import { chainLabel, ensureWalletChain } from './switch-chain.ts';
import type { Eip1193Provider } from './wallets.ts';
import type { PrivateKeyAccount } from 'viem/accounts';
import { ClaimError, claimReward } from '../../../../shared/chain/claim.ts';
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
  /** The claim transaction was sent (not yet mined). */
  onSent?: (hash: Hex) => void;
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
    onSubmitted: a.onSent,
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
  onSent?: (hash: Hex) => void;
}

/**
 * Claims the delegated wallet's leaf from the wallet itself (eth_sendTransaction through its
 * provider): `claim(wallet, cumulative, proof)` pays the wallet. On the dev chain the faucet
 * first sends the wallet gas.
 */
export async function claimWithWallet(a: WalletClaimArgs): Promise<Hex> {
  // The wallet sends to its active chain: make it the run's first (viem checks it again).
  await ensureWalletChain(a.provider, a.chain, a.origin, 'to claim');
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
    name: chainLabel(a.chain),
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
  a.onSent?.(hash);
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000 });
  if (receipt.status !== 'success') throw new ClaimError('Reverted', 'the claim transaction was mined but reverted', { details: `tx ${hash}` });
  a.log('info', `claim to wallet ${a.wallet} mined (${hash.slice(0, 10)}…)`);
  try {
    await a.api.claimed(a.wallet, hash);
  } catch (e) {
    a.log('warn', `the claim is on chain, but telling the coordinator failed: ${describeError(e)}`);
  }
  return hash;
}

export interface SettleArgs {
  api: Pick<CoordinatorApi, 'claimed'>;
  chain: ChainInfo;
  origin: string;
  account: Address;
  hash: Hex;
  /** How long to wait for the receipt. Default 60 s. */
  timeoutMs?: number;
  pollingInterval?: number;
}

/**
 * A claim sent before a reload: waits for its receipt; once mined, tells the ledger (as the
 * claim itself would have). Resolves 'mined' or 'reverted'; rejects when it is still not mined.
 */
export async function settleClaim(a: SettleArgs): Promise<'mined' | 'reverted'> {
  const client = createPublicClient({ transport: http(new URL(a.chain.rpcUrl, a.origin).href), pollingInterval: a.pollingInterval ?? 500 });
  const receipt = await client.waitForTransactionReceipt({ hash: a.hash, timeout: a.timeoutMs ?? 60_000 });
  if (receipt.status !== 'success') return 'reverted';
  await a.api.claimed(a.account, a.hash);
  return 'mined';
}
