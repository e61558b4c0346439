// Claiming earned tokens from the RewardDistributor with the device key: dev-chain gas from
// the coordinator's faucet, then `claim(account, cumulative, proof)`, then tell the ledger.
import { createPublicClient, createWalletClient, defineChain, http, type Address, type Hex } from 'viem';
import type { PrivateKeyAccount } from 'viem/accounts';
import { IdlegradError } from '../../../shared/errors.ts';
import type { AccountSummary, ChainInfo } from '../../../shared/protocol.ts';
import type { CoordinatorApi } from './api.ts';
import { describeError } from './errors.ts';

/** The one RewardDistributor function the page calls. (To move to shared/.) */
export const distributorClaimAbi = [
  {
    type: 'function',
    name: 'claim',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'account', type: 'address' },
      { name: 'cumulativeAmount', type: 'uint256' },
      { name: 'proof', type: 'bytes32[]' },
    ],
    outputs: [],
  },
] as const;

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
  const chain = defineChain({
    id: a.chain.chainId,
    name: `idlegrad chain ${a.chain.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const pollingInterval = a.pollingInterval ?? 500;
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval });
  const walletClient = createWalletClient({ chain, transport: http(rpcUrl), account: a.account, pollingInterval });
  const address = a.account.address as Address;

  try {
    const { txHash } = await a.api.faucet(address);
    a.log('info', `faucet sent gas (${txHash.slice(0, 10)}…)`);
    await publicClient.waitForTransactionReceipt({ hash: txHash, timeout: 60_000 });
  } catch (e) {
    // The key may already hold gas from an earlier claim; the claim itself will tell.
    a.log('warn', `faucet: ${describeError(e)}`);
  }

  const hash = await walletClient.writeContract({
    address: a.chain.distributor,
    abi: distributorClaimAbi,
    functionName: 'claim',
    args: [address, BigInt(a.claimable.cumulativeWei), a.claimable.proof],
  });
  a.log('info', `claim submitted (${hash.slice(0, 10)}…), waiting for it to be mined`);
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 120_000 });
  if (receipt.status !== 'success') throw new IdlegradError('CHAIN_ERROR', `the claim transaction ${hash} reverted`);
  try {
    await a.api.claimed(address, hash);
  } catch (e) {
    a.log('warn', `the claim is on chain, but telling the coordinator failed: ${describeError(e)}`);
  }
  return hash;
}
