// Claiming what the ledger says is claimable: the delegated wallet's leaf from that wallet,
// else the device key's leaf with the device key (the transaction code, claim-tx.ts, is
// loaded on the first claim: it kept the page's initial JavaScript over its budget).
import type { Address, Hex } from 'viem';
import type { AccountSummary } from '../../../../shared/wire/index.ts';
import { describeError } from '../errors.ts';
import type { ClaimRecord } from '../storage.ts';
import type { SettleArgs } from './claim-tx.ts';
import type { BoundWallet, WalletContext } from './context.ts';
import { WalletChainError } from './switch-chain.ts';

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
  const account = wallet ?? ctx.key.account.address;
  // Kept before it is mined: a reload while it is on its way looks it up again (resumeClaim).
  const keep = (txHash: Hex, state: ClaimRecord['state']) =>
    ctx.storage
      .putClaim({ account, device: ctx.key.account.address, txHash, state, sentAt: ctx.now() })
      .catch((e: unknown) => store.log('warn', `could not keep the claim's state: ${describeError(e)}`));
  const onSent = (txHash: Hex) => {
    store.set({ claim: { ...store.get().claim, pending: txHash } });
    void keep(txHash, 'pending');
  };
  try {
    const chain = await ctx.chain();
    const log = store.log;
    const hash = await withFreshProof(ctx, account, claimable, async (c) => {
      const tx = await claimTx();
      return provider && wallet
        ? tx.claimWithWallet({ api: ctx.api, provider, wallet, chain, claimable: c, origin: ctx.origin, log, onSent })
        : tx.claimTokens({ api: ctx.api, account: ctx.key.account, chain, claimable: c, origin: ctx.origin, log, onSent });
    });
    await keep(hash, 'mined');
    store.set({ claim: { busy: false, txHashes: [...store.get().claim.txHashes, hash], pending: null } });
    if (!wallet) store.log('info', `claimed tokens in ${hash}`);
    await ctx.refreshAccount();
    return hash;
  } catch (e) {
    const pending = store.get().claim.pending;
    // ClaimError (shared/chain/claim.ts) read by its field: importing the class would put viem's chain code in the initial JS.
    if (pending && (e as { reason?: unknown } | null)?.reason === 'Reverted') {
      await keep(pending, 'reverted');
      store.set({ claim: { ...store.get().claim, busy: false, pending: null } });
    } else store.set({ claim: { ...store.get().claim, busy: false } });
    const message = `claim failed: ${describeError(e)}`;
    // A wallet that would not switch to the run's chain: said beside the wallet, not only in the log.
    if (e instanceof WalletChainError) store.set({ wallets: { ...store.get().wallets, message } });
    store.log('error', message);
    return null;
  }
}

/**
 * After a reload: shows the last claim kept in storage; one still pending is looked up on
 * chain (and reported to the ledger once mined), as the claim would have done.
 */
export async function resumeClaim(ctx: WalletContext, settle?: (a: SettleArgs) => Promise<'mined' | 'reverted'>): Promise<void> {
  const { store } = ctx;
  const rec = await ctx.storage.getClaim().catch(() => undefined);
  if (!rec || rec.state === 'reverted' || rec.device !== ctx.key.account.address) return;
  if (rec.state === 'mined') {
    if (!store.get().claim.txHashes.includes(rec.txHash)) store.set({ claim: { ...store.get().claim, txHashes: [...store.get().claim.txHashes, rec.txHash] } });
    return;
  }
  store.set({ claim: { ...store.get().claim, pending: rec.txHash } });
  store.log('info', `a claim sent earlier (${rec.txHash}) was not confirmed yet: looking it up on chain`);
  try {
    const chain = await ctx.chain();
    const args = { api: ctx.api, chain, origin: ctx.origin, account: rec.account, hash: rec.txHash };
    const state = await (settle ?? (await claimTx()).settleClaim)(args);
    await ctx.storage.putClaim({ ...rec, state });
    const c = store.get().claim;
    store.set({ claim: { ...c, pending: null, txHashes: state === 'mined' ? [...c.txHashes, rec.txHash] : c.txHashes } });
    store.log(
      state === 'mined' ? 'info' : 'error',
      state === 'mined' ? `the earlier claim ${rec.txHash} is mined` : `the earlier claim ${rec.txHash} reverted: claim again`,
    );
    await ctx.refreshAccount();
  } catch (e) {
    store.log('warn', `the earlier claim ${rec.txHash} is not mined yet (${describeError(e)}); it is looked up again on the next visit`);
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
