// An injected EIP-1193 wallet for the browser tests, backed by an anvil account in Node, that
// behaves like MetaMask about chains: it has an active chain and a list of chains it knows;
// it answers 4902 to a switch to a chain it does not know until the page adds it (EIP-3085),
// 4001 when the volunteer declines, and refuses to sign typed data whose domain names another
// chain or to send a transaction while it is on another chain than the platform's.
//
// The page side (INJECTED_WALLET, an init script) announces the provider by EIP-6963 and turns
// the Node side's `{ __error: { code, message } }` answers into thrown errors with `code`
// (Playwright's exposeFunction would keep only an Error's message).
import { createPublicClient, createWalletClient, http, type Address, type Hex, type PrivateKeyAccount } from 'viem';

export const TEST_WALLET_RDNS = 'dev.idlegrad.testwallet';

// A string, not a function: tsx keeps names with a helper (__name) the page does not have.
export const INJECTED_WALLET = `
(() => {
  const provider = {
    request: async ({ method, params }) => {
      const r = await window.__walletRpc(method, params === undefined ? [] : params);
      if (r && typeof r === 'object' && r.__error) throw Object.assign(new Error(r.__error.message), { code: r.__error.code });
      return r;
    },
  };
  const info = Object.freeze({ uuid: '6f1b0c1e-0000-4000-8000-000000000007', name: 'Anvil Test Wallet', rdns: '${TEST_WALLET_RDNS}',
    icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg" width="16" height="16"%3E%3Crect width="16" height="16" fill="%23f6851b"/%3E%3C/svg%3E' });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();`;

type Answer = unknown | { __error: { code: number; message: string } };
const fail = (code: number, message: string): Answer => ({ __error: { code, message } });

export interface FakeWalletOptions {
  account: PrivateKeyAccount;
  /** The platform's chain: its id and an RPC URL this process can reach. */
  chainId: number;
  rpc: string;
  /** The chain the wallet is on at first, and knows besides any it is asked to add. Default 1 (mainnet). */
  startChain?: number;
}

export class ChainEnforcingWallet {
  active: number;
  readonly known: Set<number>;
  /** Every method asked, in order (eth_chainId too). */
  readonly calls: string[] = [];
  /** Typed data signed (primaryType) and assets watched (EIP-747 options). */
  readonly signed: string[] = [];
  readonly watched: { address: string; symbol: string; decimals: number }[] = [];
  /** The volunteer declines chain switches (4001) while set. */
  declineSwitch = false;
  private readonly walletClient;
  private readonly publicClient;

  constructor(private readonly o: FakeWalletOptions) {
    this.active = o.startChain ?? 1;
    this.known = new Set([this.active]);
    this.walletClient = createWalletClient({ account: o.account, transport: http(o.rpc) });
    this.publicClient = createPublicClient({ transport: http(o.rpc) });
  }

  /** The handler to expose to the page as window.__walletRpc. */
  readonly rpc = async (method: string, params: unknown): Promise<Answer> => {
    this.calls.push(method);
    const list = Array.isArray(params) ? params : [];
    const onPlatform = this.active === this.o.chainId;
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [this.o.account.address];
      case 'eth_chainId':
        return `0x${this.active.toString(16)}`;
      case 'wallet_switchEthereumChain': {
        const id = Number((list[0] as { chainId?: string } | undefined)?.chainId);
        if (this.declineSwitch) return fail(4001, 'User rejected the request.');
        if (!this.known.has(id)) return fail(4902, `Unrecognized chain ID "0x${id.toString(16)}". Try adding the chain using wallet_addEthereumChain first.`);
        this.active = id;
        return null;
      }
      case 'wallet_addEthereumChain': {
        const p = list[0] as { chainId?: string; chainName?: string; rpcUrls?: string[]; nativeCurrency?: { decimals?: number } } | undefined;
        const id = Number(p?.chainId);
        if (!p?.chainName || !p.rpcUrls?.[0] || p.nativeCurrency?.decimals !== 18) return fail(-32602, `invalid chain parameters ${JSON.stringify(p)}`);
        // As MetaMask does: the RPC must serve the chain it is added for.
        const served = await createPublicClient({ transport: http(p.rpcUrls[0]) }).getChainId();
        if (served !== id) return fail(-32602, `the RPC ${p.rpcUrls[0]} serves chain ${served}, not ${id}`);
        if (this.declineSwitch) return fail(4001, 'User rejected the request.');
        this.known.add(id);
        this.active = id;
        return null;
      }
      case 'eth_signTypedData_v4': {
        const [who, json] = list as [string, string];
        if (who.toLowerCase() !== this.o.account.address.toLowerCase()) return fail(-32602, `not this wallet's account: ${who}`);
        const t = JSON.parse(json) as { domain: Record<string, unknown>; types: Record<string, unknown>; primaryType: string; message: Record<string, string> };
        if (Number(t.domain.chainId) !== this.active)
          return fail(-32603, `Provided chainId "${Number(t.domain.chainId)}" must match the active chainId "${this.active}"`);
        const { EIP712Domain: _, ...types } = t.types;
        this.signed.push(t.primaryType);
        const typed = {
          domain: { ...t.domain, chainId: Number(t.domain.chainId) },
          types,
          primaryType: t.primaryType,
          message: { ...t.message, nonce: BigInt(t.message.nonce), expiry: BigInt(t.message.expiry) },
        };
        return this.o.account.signTypedData(typed as unknown as Parameters<PrivateKeyAccount['signTypedData']>[0]);
      }
      case 'eth_sendTransaction': {
        const [tx] = list as [{ to: Address; data: Hex; from: Address }];
        if (tx.from.toLowerCase() !== this.o.account.address.toLowerCase()) return fail(-32602, `not this wallet's account: ${tx.from}`);
        if (!onPlatform) return fail(-32603, `the wallet is on chain ${this.active}: this transaction would go there`);
        return this.walletClient.sendTransaction({ to: tx.to, data: tx.data, chain: null });
      }
      case 'wallet_watchAsset': {
        const p = params as { type?: string; options?: { address: string; symbol: string; decimals: number } };
        if (p?.type !== 'ERC20' || !p.options) return fail(-32602, `invalid asset ${JSON.stringify(params)}`);
        this.watched.push(p.options);
        return true;
      }
      default:
        if (!onPlatform) return fail(-32603, `this test wallet has no RPC for chain ${this.active}`);
        return this.publicClient.request({ method: method as never, params: list as never });
    }
  };
}
