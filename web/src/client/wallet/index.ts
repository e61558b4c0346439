// wallet/: binding a wallet to this device key, claiming, and verifying one's reward — one
// action per file (bind.ts, claim.ts, verify-reward.ts) — plus EIP-6963 discovery
// (wallets.ts), the lazy WalletConnect bundle (walletconnect.ts) and the claim transaction
// (claim-tx.ts, loaded on the first claim). WalletActions holds what the actions share: the
// providers found and the wallet this session bound.
import type { Address, Hex } from 'viem';
import type { ChainInfo, ClientMessage } from '../../../../shared/wire/index.ts';
import { describeError } from '../errors.ts';
import { until } from '../session.ts';
import type { RewardCheck, SnapshotStore } from '../snapshot.ts';
import { bindWallet, connectWalletConnect } from './bind.ts';
import { claim, resumeClaim } from './claim.ts';
import type { BoundWallet, WalletContext } from './context.ts';
import type { DiscoveredWallet, Eip1193Provider } from './wallets.ts';

export type { WalletContext } from './context.ts';
export { discoverWallets, type DiscoveredWallet, type WalletInfo } from './wallets.ts';

/** The key of a WalletConnect provider among the wallets' providers (EIP-6963 ones are keyed by uuid). */
const WALLETCONNECT_ID = 'walletconnect';

export interface WalletSession {
  /** A welcomed coordinator session (connecting if needed). */
  ensure: () => Promise<void>;
  send: (m: ClientMessage) => boolean;
}

export class WalletActions {
  private readonly providers = new Map<string, Eip1193Provider>();
  private bound: BoundWallet | null = null;
  private bindWaiter: ((error: string) => void) | null = null;

  /** `context` is null until there is a device key (no wallet action before consent). */
  constructor(
    private readonly store: SnapshotStore,
    private readonly context: () => WalletContext | null,
    private readonly session: WalletSession,
  ) {}

  /** From the page's EIP-6963 discovery. */
  setFound(list: DiscoveredWallet[]): void {
    for (const w of list) this.providers.set(w.info.uuid, w.provider);
    this.store.set({ wallets: { ...this.store.get().wallets, found: list.map((w) => w.info) } });
  }

  /** A coordinator error while a binding waits: the binding failed. Returns whether one waited. */
  refuse(error: string): boolean {
    if (!this.bindWaiter) return false;
    this.bindWaiter(error);
    return true;
  }

  /** Binds a wallet found by EIP-6963: it signs a Delegation, and credit accrues to it from then on. */
  async bind(uuid: string): Promise<Address | null> {
    const provider = this.providers.get(uuid);
    const ctx = this.context();
    if (!provider || !ctx) return null;
    const bound = await bindWallet(
      ctx,
      {
        ensureSession: this.session.ensure,
        send: this.session.send,
        refusal: () => {
          const refused = new Promise<never>((_, reject) => (this.bindWaiter = (err) => reject(new Error(err))));
          refused.catch(() => undefined); // seen by the race; never unhandled
          return { refused, done: () => (this.bindWaiter = null) };
        },
        confirmed: (wallet) => until(() => ctx.store.get().account?.wallet?.toLowerCase() === wallet, 15_000, 'the coordinator did not confirm the binding'),
      },
      provider,
    );
    if (bound) {
      this.bound = bound;
      this.store.set({ wallets: { ...this.store.get().wallets, bound: bound.wallet } });
    }
    return bound?.wallet ?? null;
  }

  /** Binds a wallet connected through WalletConnect (loaded on demand; its URI and QR shown). */
  async bindWalletConnect(): Promise<Address | null> {
    const ctx = this.context();
    if (!ctx) return null;
    const provider = await connectWalletConnect(ctx);
    if (!provider) return null;
    this.providers.set(WALLETCONNECT_ID, provider);
    return this.bind(WALLETCONNECT_ID);
  }

  /** Claims what the ledger says is claimable: the delegated wallet's leaf from the wallet, else the device key's. */
  claim(): Promise<Hex | null> {
    const ctx = this.context();
    return ctx ? claim(ctx, this.bound) : Promise.resolve(null);
  }

  /**
   * The platform's chain is known (an answered /api/run, or a welcome): WalletConnect offered or
   * not, the explorer; on the first, with a key, also the token read and the last claim resumed.
   */
  onChain(chain: ChainInfo, first: boolean): void {
    const s = this.store.get();
    if (s.wallets.walletConnect !== !!chain.walletConnect || s.explorer !== (chain.explorerUrl ?? null))
      this.store.set({ wallets: { ...s.wallets, walletConnect: !!chain.walletConnect }, explorer: chain.explorerUrl ?? null });
    const ctx = this.context();
    if (!first || !ctx) return;
    void this.loadToken();
    void resumeClaim(ctx);
  }

  /** Reads the token's symbol and decimals from its contract (wallet/token.ts, loaded here). */
  async loadToken(): Promise<void> {
    const ctx = this.context();
    if (!ctx || this.store.get().token) return;
    try {
      const chain = await ctx.chain();
      this.store.set({ token: await (await import('./token.ts')).readToken(chain, ctx.origin) });
    } catch (e) {
      this.store.log('warn', `could not read the reward token's symbol and decimals: ${describeError(e)}`);
    }
  }

  /** "Add to wallet" (EIP-747) in the wallet this session bound; false when there is none or it declined. */
  async watchToken(): Promise<boolean> {
    const ctx = this.context();
    const token = this.store.get().token;
    if (!ctx || !token || !this.bound) return false;
    try {
      const added = await (await import('./token.ts')).watchToken(this.bound.provider, await ctx.chain(), token, ctx.origin);
      this.store.log('info', added ? `${token.symbol} added to your wallet` : `the wallet did not add ${token.symbol}`);
      return added;
    } catch (e) {
      const message = `adding ${token.symbol} to the wallet failed: ${describeError(e)}`;
      this.store.set({ wallets: { ...this.store.get().wallets, message } });
      this.store.log('error', message);
      return false;
    }
  }

  /** "Verify my reward": this account's leaf checked against the root on chain (verify-reward.ts, loaded on the click). */
  verifyReward(): Promise<RewardCheck | null> {
    const ctx = this.context();
    return ctx ? import('./verify-reward.ts').then((m) => m.verifyReward(ctx)) : Promise.resolve(null);
  }
}
