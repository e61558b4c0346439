// Wallets for binding credit (issue 5 item 7): injected wallets found by EIP-6963 discovery
// (each announces itself with an 'eip6963:announceProvider' event carrying its EIP-1193
// provider), and a wallet's signature of the EIP-712 Delegation that binds this device key.
// UI-free; the page lists what is found and the volunteer picks one.
import { serializeTypedData, type Address, type Hex } from 'viem';
import { delegationTypedData, type Delegation, type Eip712Domain } from '../../../../shared/eip712.ts';

/** EIP-1193: the one method every wallet provider has (params by position, or by name as EIP-747 sends them). */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown>;
}

/** EIP-6963 provider info. */
export interface WalletInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}

export interface DiscoveredWallet {
  info: WalletInfo;
  provider: Eip1193Provider;
}

function validInfo(v: unknown): v is WalletInfo {
  const o = v as Record<string, unknown> | null;
  return !!o && typeof o.uuid === 'string' && typeof o.name === 'string' && typeof o.icon === 'string' && typeof o.rdns === 'string';
}

/**
 * Listens for EIP-6963 announcements (also ones that arrive later) and asks wallets to announce.
 * `onChange` gets the list, one entry per uuid, in order of arrival. Returns the unsubscribe.
 */
export function discoverWallets(target: Window, onChange: (wallets: DiscoveredWallet[]) => void): () => void {
  const found = new Map<string, DiscoveredWallet>();
  const onAnnounce = (e: Event) => {
    const detail = (e as CustomEvent<{ info?: unknown; provider?: Eip1193Provider }>).detail;
    if (!detail || !validInfo(detail.info) || typeof detail.provider?.request !== 'function') return;
    found.set(detail.info.uuid, {
      info: { uuid: detail.info.uuid, name: detail.info.name, icon: detail.info.icon, rdns: detail.info.rdns },
      provider: detail.provider,
    });
    onChange([...found.values()]);
  };
  target.addEventListener('eip6963:announceProvider', onAnnounce);
  target.dispatchEvent(new Event('eip6963:requestProvider'));
  return () => target.removeEventListener('eip6963:announceProvider', onAnnounce);
}

/** The fields of shared/eip712.ts's domain, as eth_signTypedData_v4 lists them. */
const EIP712_DOMAIN_TYPES = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
] as const;

/** How long a delegation made from the page lasts (the coordinator allows up to 366 days). */
export const DELEGATION_SECONDS = 180 * 24 * 3600;

/**
 * Asks the wallet for its account and for an EIP-712 signature (eth_signTypedData_v4) of a
 * Delegation naming this device. The nonce is the current time in ms: it only grows.
 */
export async function signDelegation(
  provider: Eip1193Provider,
  device: Address,
  domain: Eip712Domain,
  nowMs: number,
): Promise<{ delegation: Delegation; signature: Hex }> {
  const accounts = (await provider.request({ method: 'eth_requestAccounts' })) as unknown;
  const wallet = Array.isArray(accounts) && typeof accounts[0] === 'string' ? (accounts[0].toLowerCase() as Address) : null;
  if (!wallet || !/^0x[0-9a-f]{40}$/.test(wallet)) throw new Error(`the wallet returned no account (${JSON.stringify(accounts)})`);
  const delegation: Delegation = {
    wallet,
    device: device.toLowerCase() as Address,
    nonce: BigInt(Math.floor(nowMs)),
    expiry: BigInt(Math.floor(nowMs / 1000) + DELEGATION_SECONDS),
  };
  const typed = delegationTypedData(domain, delegation);
  // eth_signTypedData_v4 wants the domain's own type listed with the others.
  const json = serializeTypedData({
    ...typed,
    domain: { ...domain, chainId: BigInt(domain.chainId) },
    types: { EIP712Domain: EIP712_DOMAIN_TYPES, ...typed.types },
  });
  const signature = (await provider.request({ method: 'eth_signTypedData_v4', params: [wallet, json] })) as unknown;
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) throw new Error('the wallet returned no 65-byte signature');
  return { delegation, signature: signature as Hex };
}
