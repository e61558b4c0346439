// Claiming earned tokens from the RewardDistributor with the device key: dev-chain gas from
// the coordinator's faucet, then `claim(account, cumulative, proof)` (shared/chain/claim.ts),
// then tell the ledger.
import type { Address, Hex } from 'viem';
import { createPublicClient, http } from 'viem';
import type { PrivateKeyAccount } from 'viem/accounts';
import { claimReward } from '../../../shared/chain/claim.ts';
import type { AccountSummary, ChainInfo } from '../../../shared/protocol.ts';
import type { CoordinatorApi } from './api.ts';
import { describeError } from './errors.ts';

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
    rpcUrl, chainId: a.chain.chainId, distributor: a.chain.distributor, signer: a.account,
    account: address, cumulative: BigInt(a.claimable.cumulativeWei), proof: a.claimable.proof, pollingInterval,
  });
  a.log('info', `claim mined (${hash.slice(0, 10)}…)`);
  try {
    await a.api.claimed(address, hash);
  } catch (e) {
    a.log('warn', `the claim is on chain, but telling the coordinator failed: ${describeError(e)}`);
  }
  return hash;
}
