// A wallet on the run's chain before it signs or sends (issue 20 item 4). Wallets sign and send
// for their active chain only: MetaMask refuses eth_signTypedData_v4 whose domain names
// another chain, and sends a transaction to whatever chain it is on. So before binding,
// claiming or watching the token: read eth_chainId; if it differs, ask the wallet to switch
// (EIP-3326 wallet_switchEthereumChain); if the wallet does not know the chain (error 4902),
// ask it to add the chain (EIP-3085 wallet_addEthereumChain) and switch again if it did not.
import { BaseError } from '../../../../shared/errors.ts';
import type { ChainInfo } from '../../../../shared/wire/index.ts';
import type { Eip1193Provider } from './wallets.ts';

/** EIP-1193's and EIP-3326's codes we act on. */
const USER_REJECTED = 4001;
const UNRECOGNIZED_CHAIN = 4902;
const UNSUPPORTED_METHOD = [4200, -32601];

export type WalletChainCode = 'REFUSED' | 'UNSUPPORTED' | 'WRONG_CHAIN';

export class WalletChainError extends BaseError<WalletChainCode> {
  override name = 'WalletChainError';
}

/** The wallet's numeric error code, also where MetaMask nests it (data.originalError.code). */
export function walletErrorCode(e: unknown): number | null {
  const o = e as { code?: unknown; data?: { originalError?: { code?: unknown } } } | null;
  if (typeof o?.code === 'number' && o.code !== -32603) return o.code;
  const inner = o?.data?.originalError?.code;
  return typeof inner === 'number' ? inner : typeof o?.code === 'number' ? o.code : null;
}

/** How the run's chain is named to a person (and to a wallet asked to add it). */
export const chainLabel = (chain: Pick<ChainInfo, 'chainId' | 'chainName'>) => chain.chainName ?? `chain ${chain.chainId}`;

const hexId = (id: number) => `0x${id.toString(16)}`;

async function activeChain(provider: Eip1193Provider): Promise<number | null> {
  const id = await provider.request({ method: 'eth_chainId' });
  if (typeof id === 'string' && /^0x[0-9a-fA-F]+$/.test(id)) return Number(BigInt(id));
  return typeof id === 'number' ? id : null;
}

/** EIP-3085's parameters for the run's chain; the RPC URL absolute (the page's /rpc). */
export function addChainParams(chain: ChainInfo, origin: string) {
  return {
    chainId: hexId(chain.chainId),
    chainName: chainLabel(chain),
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: [new URL(chain.rpcUrl, origin).href],
    ...(chain.explorerUrl ? { blockExplorerUrls: [chain.explorerUrl] } : {}),
  };
}

/**
 * Makes the run's chain the wallet's active chain, switching (and adding) as needed; resolves
 * when eth_chainId names it. `why` completes the refusal's sentence ("to bind it", "to claim").
 */
export async function ensureWalletChain(provider: Eip1193Provider, chain: ChainInfo, origin: string, why: string): Promise<void> {
  if ((await activeChain(provider)) === chain.chainId) return;
  const label = chainLabel(chain);
  const refused = (cause: unknown) =>
    new WalletChainError('REFUSED', `the wallet declined to switch to ${label} (id ${chain.chainId}): it must be on the run's chain ${why}`, { cause });
  const ask = async (method: string, params: unknown[]) => {
    try {
      await provider.request({ method, params });
      return null;
    } catch (e) {
      const code = walletErrorCode(e);
      if (code === USER_REJECTED) throw refused(e);
      if (code !== null && UNSUPPORTED_METHOD.includes(code))
        throw new WalletChainError('UNSUPPORTED', `this wallet cannot switch chains itself: switch it to ${label} (id ${chain.chainId}) ${why}`, { cause: e });
      return { code, error: e };
    }
  };
  const switched = await ask('wallet_switchEthereumChain', [{ chainId: hexId(chain.chainId) }]);
  if (switched?.code === UNRECOGNIZED_CHAIN) {
    const added = await ask('wallet_addEthereumChain', [addChainParams(chain, origin)]);
    if (added) throw new WalletChainError('WRONG_CHAIN', `the wallet could not add ${label} (id ${chain.chainId})`, { cause: added.error });
    // EIP-3085 lets a wallet add without switching: ask once more.
    if ((await activeChain(provider)) !== chain.chainId) {
      const again = await ask('wallet_switchEthereumChain', [{ chainId: hexId(chain.chainId) }]);
      if (again) throw new WalletChainError('WRONG_CHAIN', `the wallet did not switch to ${label} (id ${chain.chainId})`, { cause: again.error });
    }
  } else if (switched) {
    throw new WalletChainError('WRONG_CHAIN', `the wallet could not switch to ${label} (id ${chain.chainId})`, { cause: switched.error });
  }
  const now = await activeChain(provider);
  if (now !== chain.chainId) throw new WalletChainError('WRONG_CHAIN', `the wallet is still on chain ${now} after switching to ${label} (id ${chain.chainId})`);
}
