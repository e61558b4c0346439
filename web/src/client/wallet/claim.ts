// Claiming what the ledger says is claimable: the delegated wallet's leaf from that wallet,
// else the device key's leaf with the device key (the transaction code, claim-tx.ts, is
// loaded on the first claim: it kept the page's initial JavaScript over its budget).
import type { Address, Hex } from 'viem';
import type { AccountSummary } from '../../../../shared/wire/index.ts';
import { describeError } from '../errors.ts';
import type { BoundWallet, WalletContext } from './context.ts';

const claimTx = () => import('./claim-tx.ts');

type Claimable = NonNullable<AccountSummary['claimable']>;

/** Claims for this device, or for its delegated wallet when `bound` is that wallet; null when nothing was claimed (the log says why). */
export async function claim(ctx: WalletContext, bound: BoundWallet | null): Promise<Hex | null> {
  const { store } = ctx;
  const s = store.get();
  const wallet = s.account?.wallet ?? null;
  const claimable = wallet ? s.wallets.account?.claimable : s.account?.claimable;
  if (!claimable || s.claim.busy) return null;
  const provider = wallet && bound?.wallet === wallet.toLowerCase() ? bound.provider : null;
  if (wallet && !provider) {
    store.log('warn', `your credit is claimed by the wallet ${wallet}: bind it again on this page (or claim from it) to claim`);
    return null;
  }
  store.set({ claim: { ...s.claim, busy: true } });
  try {
    const chain = await ctx.chain();
    const log = store.log;
    const account = wallet ?? ctx.key.account.address;
    const hash = await withFreshProof(ctx, account, claimable, async (c) => {
      const tx = await claimTx();
      return provider && wallet
        ? tx.claimWithWallet({ api: ctx.api, provider, wallet, chain, claimable: c, origin: ctx.origin, log })
        : tx.claimTokens({ api: ctx.api, account: ctx.key.account, chain, claimable: c, origin: ctx.origin, log });
    });
    store.set({ claim: { busy: false, txHashes: [...store.get().claim.txHashes, hash] } });
    if (!wallet) store.log('info', `claimed tokens in ${hash}`);
    await ctx.refreshAccount();
    return hash;
  } catch (e) {
    store.set({ claim: { ...store.get().claim, busy: false } });
    store.log('error', `claim failed: ${describeError(e)}`);
    return null;
  }
}

/**
 * Sends a claim; if it fails and the ledger meanwhile holds a newer epoch for the account, once
 * more with that epoch's proof. A reward epoch posted while a claim is on its way replaces
 * the root its proof leads to, and the contract refuses it.
 */
async function withFreshProof(ctx: WalletContext, account: Address, claimable: Claimable, send: (c: Claimable) => Promise<Hex>): Promise<Hex> {
  try {
    return await send(claimable);
  } catch (first) {
    const fresh = (await ctx.api.account(account).catch(() => null))?.claimable;
    if (!fresh || (fresh.epoch === claimable.epoch && fresh.cumulativeWei === claimable.cumulativeWei)) throw first;
    ctx.store.log('warn', `the claim failed (${describeError(first)}); epoch ${fresh.epoch} is on chain now: claiming again with its proof`);
    return send(fresh);
  }
}
