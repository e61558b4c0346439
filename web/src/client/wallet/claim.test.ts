import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import type { ChainInfo } from '../../../../shared/wire/index.ts';
import type { CoordinatorApi } from '../api.ts';
import { storeDeviceKey } from '../device-key.ts';
import { SnapshotStore, initialSnapshot } from '../snapshot.ts';
import { MemoryStorage } from '../storage.ts';
import { DEFAULT_GOVERNANCE } from '../governance.ts';
import { resumeClaim } from './claim.ts';
import type { WalletContext } from './context.ts';

const CHAIN = { chainId: 31337, distributor: `0x${'1'.repeat(40)}`, token: `0x${'2'.repeat(40)}`, rpcUrl: '/rpc' } as ChainInfo;
const TX = `0x${'ab'.repeat(32)}` as Hex;
const WALLET = `0x${'cd'.repeat(20)}` as Address;

async function context() {
  const storage = new MemoryStorage();
  const key = await storeDeviceKey(storage, generatePrivateKey(), 1);
  const store = new SnapshotStore(initialSnapshot({ storage, partner: null, governance: DEFAULT_GOVERNANCE }));
  let refreshed = 0;
  const ctx: WalletContext = {
    api: {} as CoordinatorApi,
    store,
    origin: 'http://127.0.0.1',
    now: () => 5,
    key,
    storage,
    chain: async () => CHAIN,
    refreshAccount: async () => void refreshed++,
  };
  return { ctx, storage, store, key, refreshed: () => refreshed };
}

test('after a reload a pending claim is looked up again: once mined it shows as claimed, and the record says so', async () => {
  const { ctx, storage, store, key, refreshed } = await context();
  await storage.putClaim({ account: key.account.address, device: key.account.address, txHash: TX, state: 'pending', sentAt: 1 });
  const asked: Hex[] = [];
  await resumeClaim(ctx, async (a) => {
    asked.push(a.hash);
    assert.equal(store.get().claim.pending, TX, 'the pending claim is not shown while it is looked up');
    return 'mined';
  });
  assert.deepEqual(asked, [TX]);
  assert.deepEqual(store.get().claim, { busy: false, txHashes: [TX], pending: null });
  assert.equal((await storage.getClaim())?.state, 'mined');
  assert.equal(refreshed(), 1);
});

test('a pending claim that reverted, or is still not mined, is said; a mined one is shown without asking the chain', async () => {
  const reverted = await context();
  await reverted.storage.putClaim({ account: reverted.key.account.address, device: reverted.key.account.address, txHash: TX, state: 'pending', sentAt: 1 });
  await resumeClaim(reverted.ctx, async () => 'reverted');
  assert.deepEqual(reverted.store.get().claim.txHashes, []);
  assert.equal((await reverted.storage.getClaim())?.state, 'reverted');
  assert.match(reverted.store.get().errors.at(-1) ?? '', /reverted: claim again/);

  const waiting = await context();
  await waiting.storage.putClaim({ account: waiting.key.account.address, device: waiting.key.account.address, txHash: TX, state: 'pending', sentAt: 1 });
  await resumeClaim(waiting.ctx, async () => Promise.reject(new Error('timed out')));
  assert.equal(waiting.store.get().claim.pending, TX);
  assert.equal((await waiting.storage.getClaim())?.state, 'pending');
  assert.match(waiting.store.get().log.at(-1)?.text ?? '', /not mined yet \(timed out\); it is looked up again/);

  const mined = await context();
  await mined.storage.putClaim({ account: mined.key.account.address, device: mined.key.account.address, txHash: TX, state: 'mined', sentAt: 1 });
  await resumeClaim(mined.ctx, async () => assert.fail('a mined claim was looked up'));
  assert.deepEqual(mined.store.get().claim.txHashes, [TX]);

  // Another key's claim (this browser's key was replaced from a backup since) is not shown.
  const other = await context();
  await other.storage.putClaim({ account: WALLET, device: WALLET, txHash: TX, state: 'pending', sentAt: 1 });
  await resumeClaim(other.ctx, async () => assert.fail("another key's claim was looked up"));
  assert.deepEqual(other.store.get().claim, { busy: false, txHashes: [], pending: null });
});
