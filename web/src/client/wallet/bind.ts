// Binding a wallet: it signs an EIP-712 Delegation naming this device key; the coordinator
// checks it (coordinator/identity.ts) and from then on this device's credit accrues to the
// wallet, and claims pay the wallet. WalletConnect providers are loaded on demand (their
// own bundle, vite.config.ts walletConnectBundle) and then bound like an injected wallet.
import { eip712Domain } from '../../../../shared/eip712.ts';
import { delegationToJson, type ChainInfo, type ClientMessage } from '../../../../shared/wire/index.ts';
import { describeError } from '../errors.ts';
import type { BoundWallet, WalletContext } from './context.ts';
import { ensureWalletChain } from './switch-chain.ts';
import { signDelegation, type Eip1193Provider } from './wallets.ts';

export interface BindDeps {
  /** A welcomed coordinator session (connecting if needed). */
  ensureSession: () => Promise<void>;
  send: (m: ClientMessage) => boolean;
  /** Rejects with the coordinator's error when it refuses the binding; call the returned function when done. */
  refusal: () => { refused: Promise<never>; done: () => void };
  /** Resolves once the ledger names `wallet` as this device's beneficiary. */
  confirmed: (wallet: string) => Promise<void>;
}

/** Binds the wallet behind `provider`; returns what was bound, or null (the reason is in the snapshot and the log). */
export async function bindWallet(ctx: WalletContext, deps: BindDeps, provider: Eip1193Provider): Promise<BoundWallet | null> {
  const { store } = ctx;
  if (store.get().wallets.busy) return null;
  store.set({ wallets: { ...store.get().wallets, busy: true, message: null } });
  const waiter = deps.refusal();
  try {
    const chain = await ctx.chain();
    // A wallet signs EIP-712 for its active chain only: the Delegation's domain names the run's.
    await ensureWalletChain(provider, chain, ctx.origin, 'to sign the binding');
    const { delegation, signature } = await signDelegation(provider, ctx.key.account.address, eip712Domain(chain.chainId, chain.distributor), ctx.now());
    await deps.ensureSession();
    if (!deps.send({ type: 'bind', delegation: delegationToJson(delegation), signature })) throw new Error('the coordinator connection closed');
    await Promise.race([waiter.refused, deps.confirmed(delegation.wallet)]);
    store.set({ wallets: { ...store.get().wallets, busy: false, message: null } });
    store.log('info', `wallet ${delegation.wallet} bound: this device's credit now accrues to it, and claims pay it`);
    void ctx.refreshAccount();
    return { wallet: delegation.wallet, provider };
  } catch (e) {
    const message = `binding the wallet failed: ${describeError(e)}`;
    store.set({ wallets: { ...store.get().wallets, busy: false, message } });
    store.log('error', message);
    return null;
  } finally {
    waiter.done();
  }
}

/**
 * Connects a wallet through WalletConnect: loads the provider (a lazy bundle), shows the
 * pairing URI and the QR modal, and waits for the wallet to approve. The caller then binds it.
 */
export async function connectWalletConnect(ctx: Pick<WalletContext, 'store' | 'origin' | 'chain'>): Promise<Eip1193Provider | null> {
  const { store } = ctx;
  if (store.get().wallets.busy) return null;
  store.set({ wallets: { ...store.get().wallets, busy: true, message: null, pairingUri: null } });
  try {
    const chain: ChainInfo = await ctx.chain();
    if (!chain.walletConnect) throw new Error('this platform has no WalletConnect project id configured');
    const { connectWalletConnect: connect } = (await import(
      /* @vite-ignore */ new URL('/wc/walletconnect.js', ctx.origin).href
    )) as typeof import('./walletconnect.ts');
    store.log('info', 'WalletConnect: waiting for a wallet to approve the connection');
    const provider = await connect({
      ...chain.walletConnect,
      chainId: chain.chainId,
      rpcUrl: new URL(chain.rpcUrl, ctx.origin).href,
      origin: ctx.origin,
      onUri: (uri) => store.set({ wallets: { ...store.get().wallets, pairingUri: uri } }),
    });
    store.set({ wallets: { ...store.get().wallets, busy: false, pairingUri: null } });
    return provider;
  } catch (e) {
    const message = `WalletConnect failed: ${describeError(e)}`;
    store.set({ wallets: { ...store.get().wallets, busy: false, message, pairingUri: null } });
    store.log('error', message);
    return null;
  }
}
