// The reward token as the contract describes it (issue 20 item 4): its symbol and decimals read
// from the ERC-20 itself, never assumed; and "add to wallet" (EIP-747 wallet_watchAsset) once
// the wallet is on the run's chain. Loaded on demand: viem's contract reads stay out of the
// page's initial JavaScript.
import { createPublicClient, http, type Address } from 'viem';
import { rewardTokenAbi } from '../../../../shared/chain/abi.ts';
import type { ChainInfo } from '../../../../shared/wire/index.ts';
import { ensureWalletChain } from './switch-chain.ts';
import type { Eip1193Provider } from './wallets.ts';

export interface TokenInfo {
  address: Address;
  symbol: string;
  decimals: number;
}

/** Reads symbol() and decimals() of the run's token through the page's RPC. */
export async function readToken(chain: ChainInfo, origin: string): Promise<TokenInfo> {
  const client = createPublicClient({ transport: http(new URL(chain.rpcUrl, origin).href) });
  const read = <F extends 'symbol' | 'decimals'>(functionName: F) => client.readContract({ address: chain.token, abi: rewardTokenAbi, functionName });
  const [symbol, decimals] = await Promise.all([read('symbol'), read('decimals')]);
  // A symbol is shown beside every amount: keep it short and printable whatever the contract says.
  if (typeof symbol !== 'string' || !/^[^\s\x00-\x1f]{1,11}$/.test(symbol))
    throw new Error(`the token's symbol() is not a short symbol: ${JSON.stringify(symbol)}`);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 36) throw new Error(`the token's decimals() is out of range: ${decimals}`);
  return { address: chain.token, symbol, decimals };
}

/** Asks the wallet to show the token (EIP-747); true when the wallet added it. */
export async function watchToken(provider: Eip1193Provider, chain: ChainInfo, token: TokenInfo, origin: string): Promise<boolean> {
  await ensureWalletChain(provider, chain, origin, 'to add the token');
  const added = await provider.request({
    method: 'wallet_watchAsset',
    params: { type: 'ERC20', options: { address: token.address, symbol: token.symbol, decimals: token.decimals } },
  });
  return added === true;
}
