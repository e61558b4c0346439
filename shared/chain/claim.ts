// Submitting a reward claim. Browser-safe: viem only, no node imports, so the volunteer page
// (with its device key) and the coordinator or tests (with any key) share this code.
// The submitter pays gas; the tokens always go to `account`, the leaf's account.

import { createPublicClient, createWalletClient, defineChain, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount, type LocalAccount } from 'viem/accounts';
import { claimAbi } from './abi.ts';
import { ChainError, decodeRevert, describeRevert } from './errors.ts';

export { claimAbi };

export interface ClaimRewardParams {
  rpcUrl: string;
  /** The chain the proof was issued for; the claim is refused if the RPC serves another. */
  chainId: number;
  distributor: Address;
  /** Key that signs and pays gas: the volunteer's device key, or any third party's. */
  privateKey?: Hex;
  /** Or the signing account itself (the page holds its device key as an account). */
  signer?: LocalAccount;
  /** The leaf's account: who receives the tokens. */
  account: Address;
  /** The leaf's cumulative amount (base units), as served with the proof. */
  cumulative: bigint;
  proof: readonly Hex[];
  /** Receipt polling interval. Default 1000 ms (the first check is immediate). */
  pollingInterval?: number;
  /** Called with the transaction hash once it is sent, before it is mined (a page keeps it across reloads). */
  onSubmitted?: (hash: Hex) => void;
}

/** Why a claim was refused, for a UI to choose its message. */
export type ClaimRejection = 'InvalidProof' | 'NothingToClaim' | 'WrongChain' | 'Reverted' | 'Failed';

export class ClaimError extends ChainError {
  override name = 'ClaimError';
  readonly reason: ClaimRejection;
  constructor(reason: ClaimRejection, shortMessage: string, opts: { details?: string; cause?: unknown } = {}) {
    super('CLAIM_REJECTED', shortMessage, opts);
    this.reason = reason;
  }
}

/** Submit `claim(account, cumulative, proof)` and wait until it is mined; returns the tx hash. */
export async function claimReward(params: ClaimRewardParams): Promise<Hex> {
  if (!params.signer && !params.privateKey) throw new ClaimError('Failed', 'claimReward needs a signer or a privateKey');
  const signer = params.signer ?? privateKeyToAccount(params.privateKey!);
  const chain = defineChain({
    id: params.chainId,
    name: `chain ${params.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [params.rpcUrl] } },
  });
  const transport = http(params.rpcUrl);
  const pollingInterval = params.pollingInterval ?? 1_000;
  const publicClient = createPublicClient({ chain, transport, pollingInterval });
  const walletClient = createWalletClient({ chain, transport, account: signer, pollingInterval });

  const served = await publicClient.getChainId();
  if (served !== params.chainId) {
    throw new ClaimError('WrongChain', `the RPC serves chain ${served}, but the proof is for chain ${params.chainId}`);
  }

  let txHash: Hex;
  try {
    // Simulating first turns a doomed claim into a named error without spending gas.
    const { request } = await publicClient.simulateContract({
      address: params.distributor,
      abi: claimAbi,
      functionName: 'claim',
      args: [params.account, params.cumulative, params.proof],
      account: signer,
    });
    txHash = await walletClient.writeContract(request);
  } catch (cause) {
    switch (decodeRevert(cause)?.errorName) {
      case 'InvalidProof':
        throw new ClaimError('InvalidProof', 'the proof does not match the current reward root: fetch a fresh proof and retry', {
          details: 'a newer epoch may have been posted since this proof was issued',
          cause,
        });
      case 'NothingToClaim':
        throw new ClaimError('NothingToClaim', 'nothing to claim: everything earned so far has already been paid out', { cause });
      default:
        throw new ClaimError('Failed', `claim failed: ${describeRevert(cause)}`, { cause });
    }
  }

  params.onSubmitted?.(txHash);
  const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
  if (receipt.status !== 'success') {
    throw new ClaimError('Reverted', 'the claim transaction was mined but reverted', { details: `tx ${txHash}` });
  }
  return txHash;
}
