// WalletConnect (issue 5 item 7): a wallet on another device — a phone — connected through
// WalletConnect's relay, for volunteers without an injected (EIP-6963) wallet. This module is
// the only one that imports `@walletconnect/ethereum-provider`, and the page imports this
// module dynamically, only when the platform has a WalletConnect project id configured and the
// volunteer asks for it: the provider (and the QR modal it loads in turn) stays out of the
// initial JavaScript (e2e/bundle-size.test.ts, e2e/walletconnect.test.ts).
//
// What comes back is an EIP-1193 provider: the same signDelegation / claimWithWallet that
// serve an injected wallet serve this one. Signing requests go to the wallet over the relay;
// reads go to the platform's chain through `rpcMap`.
import { EthereumProvider } from '@walletconnect/ethereum-provider';
import type { Eip1193Provider } from './wallets.ts';

export interface WalletConnectArgs {
  projectId: string;
  /** The relay's WebSocket URL (the platform's setting; WalletConnect's own relay by default). */
  relayUrl: string;
  chainId: number;
  /** Absolute JSON-RPC URL of the platform's chain. */
  rpcUrl: string;
  /** The page's origin, shown to the wallet as the app's URL. */
  origin: string;
  /** The pairing URI (`wc:…`), as soon as it exists: the page shows it beside the QR code. */
  onUri: (uri: string) => void;
  /** WalletConnect's own QR modal (loaded by the provider, lazily). Default true. */
  showQrModal?: boolean;
  /** How long the volunteer has to approve in the wallet. Default 5 minutes. */
  approveMs?: number;
}

export interface WalletConnectProvider extends Eip1193Provider {
  disconnect(): Promise<void>;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${Math.round(ms / 1000)} s`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Connects a wallet over WalletConnect: resolves once the volunteer approved the session in it. */
export async function connectWalletConnect(a: WalletConnectArgs): Promise<WalletConnectProvider> {
  const provider = await within(
    EthereumProvider.init({
      projectId: a.projectId,
      relayUrl: a.relayUrl,
      optionalChains: [a.chainId],
      rpcMap: { [a.chainId]: a.rpcUrl },
      showQrModal: a.showQrModal ?? true,
      metadata: {
        name: 'idlegrad',
        description: 'Bind your wallet to this device: its training credit and claims go to the wallet.',
        url: a.origin,
        icons: [],
      },
    }),
    30_000,
    `WalletConnect did not start (relay ${a.relayUrl})`,
  );
  provider.on('display_uri', a.onUri);
  try {
    if (!provider.session) await within(provider.connect(), a.approveMs ?? 5 * 60_000, 'no wallet approved the WalletConnect session');
  } finally {
    provider.removeListener('display_uri', a.onUri);
  }
  return provider;
}
