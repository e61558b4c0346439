// Issue 5 item 7 (and issue 6 item 8): the page finds an injected wallet by EIP-6963
// discovery, the wallet signs the EIP-712 Delegation for the device key, the coordinator binds
// it, the device's credit accrues to the wallet, and the claim pays the wallet on chain.
// The wallet is an EIP-1193 provider announced with 'eip6963:announceProvider', backed by one
// of anvil's dev accounts: the test signs its requests in Node with that account's key and
// sends its transactions to the platform's chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createPublicClient, createWalletClient, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess } from './platform-process.ts';
import { DEV_ACCOUNT_KEYS } from '../coordinator/chain/index.ts';
import { rewardTokenAbi } from '../shared/chain/abi.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';

const ARTIFACTS = process.env.IDLEGRAD_ARTIFACTS ?? 'e2e/test-results/wallet';
mkdirSync(ARTIFACTS, { recursive: true });

// A string, not a function: tsx keeps names with a helper (__name) the page does not have.
const INJECTED_WALLET = `
(() => {
  const provider = { request: ({ method, params }) => window.__walletRpc(method, params || []) };
  const info = Object.freeze({ uuid: '6f1b0c1e-0000-4000-8000-000000000007', name: 'Anvil Test Wallet', rdns: 'dev.idlegrad.testwallet',
    icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg" width="16" height="16"%3E%3Crect width="16" height="16" fill="%23f6851b"/%3E%3C/svg%3E' });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();`;

test('an EIP-6963 wallet binds the device by an EIP-712 Delegation; credit accrues to it and the claim pays it', { timeout: 5 * 60_000 }, async () => {
  const platform = await startPlatformProcess({ maxRounds: 2, inner: { steps: 20 }, rewards: { epochRounds: 1 } }, { quiet: true });
  const browser = await launchChromium();
  try {
    const { chain } = await new CoordinatorApi(platform.url).run();
    const rpc = new URL(chain.rpcUrl, platform.url).href;
    const wallet = privateKeyToAccount(DEV_ACCOUNT_KEYS[7]);
    const walletClient = createWalletClient({ account: wallet, transport: http(rpc) });
    const publicClient = createPublicClient({ transport: http(rpc) });
    const signed: string[] = [];

    const context = await browser.newContext();
    await context.exposeFunction('__walletRpc', async (method: string, params: unknown[]) => {
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [wallet.address];
        case 'eth_signTypedData_v4': {
          const [who, json] = params as [string, string];
          assert.equal(who.toLowerCase(), wallet.address.toLowerCase());
          const t = JSON.parse(json) as {
            domain: Record<string, unknown>;
            types: Record<string, unknown>;
            primaryType: string;
            message: Record<string, string>;
          };
          const { EIP712Domain: _, ...types } = t.types;
          signed.push(t.primaryType);
          const typed = {
            domain: { ...t.domain, chainId: Number(t.domain.chainId) },
            types,
            primaryType: t.primaryType,
            message: { ...t.message, nonce: BigInt(t.message.nonce), expiry: BigInt(t.message.expiry) },
          };
          return wallet.signTypedData(typed as unknown as Parameters<typeof wallet.signTypedData>[0]);
        }
        case 'eth_sendTransaction': {
          const [tx] = params as [{ to: Address; data: Hex; from: Address }];
          assert.equal(tx.from.toLowerCase(), wallet.address.toLowerCase());
          return walletClient.sendTransaction({ to: tx.to, data: tx.data, chain: null });
        }
        default:
          return publicClient.request({ method: method as never, params: params as never });
      }
    });
    await context.addInitScript(INJECTED_WALLET);
    const page = await context.newPage();
    const wcRequests: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/wc/')) wcRequests.push(r.url());
    });
    await page.goto(platform.url);
    await page.getByTestId('consent').click();
    const bind = page.getByTestId('bind-dev.idlegrad.testwallet');
    await bind.click({ timeout: 20_000 });
    // No WalletConnect project id is configured here: no WalletConnect choice, and its bundle is never fetched.
    assert.equal(chain.walletConnect, undefined);
    assert.equal(await page.getByTestId('bind-walletconnect').count(), 0, 'WalletConnect is offered without a project id');
    await page.getByTestId('wallet').waitFor({ timeout: 30_000 });
    assert.deepEqual(signed, ['Delegation']);
    const device = (await page.evaluate(() => (window as unknown as { __idlegrad: { address: string } }).__idlegrad.address)).toLowerCase();
    const deviceSummary = await new CoordinatorApi(platform.url).account(device as Address);
    assert.equal(deviceSummary.wallet, wallet.address.toLowerCase(), 'the coordinator did not record the delegation');

    const before = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [wallet.address] });
    await page.getByTestId('start').click();
    const claim = page.getByTestId('claim');
    await claim.click({ timeout: 200_000 }); // enabled once an epoch holding the wallet's credit is posted
    await page.getByTestId('claim-tx').waitFor({ timeout: 60_000 });
    const after = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [wallet.address] });
    const walletSummary = await new CoordinatorApi(platform.url).account(wallet.address);
    console.log(`# wallet claim: ${after - before} wei to ${wallet.address}; ledger says ${walletSummary.claimedWei} claimed`);
    assert.ok(after > before, 'the wallet received no tokens');
    assert.equal((after - before).toString(), walletSummary.claimedWei, 'the wallet was paid a different amount than the ledger holds');
    const deviceBalance = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [device as Address] });
    assert.equal(deviceBalance, 0n, 'tokens went to the device key, not to the delegated wallet');
    // The timeline reaches 'claimed', with the claim transaction, in the page and through the API.
    await page.locator('[data-testid="timeline-row"][data-state="claimed"]').first().waitFor({ timeout: 30_000 });
    const txText = await page.getByTestId('claim-tx').getAttribute('title');
    const rows = (await new CoordinatorApi(platform.url).account(device as Address)).recent;
    const claimedRow = rows.find((r) => r.state === 'claimed')!;
    assert.equal(claimedRow.beneficiary, wallet.address.toLowerCase());
    const c = await new CoordinatorApi(platform.url).contribution(claimedRow.id!);
    assert.equal(c.timeline.at(-1)?.step, 'claimed');
    assert.equal(c.timeline.at(-1)?.status, 'current');
    assert.equal(c.claimTx, txText);
    assert.match(c.timeline.find((e) => e.step === 'batched')?.detail ?? '', /^epoch \d+$/);
    assert.equal(wcRequests.length, 0, `the page fetched WalletConnect without a project id: ${wcRequests.join(', ')}`);
    await page
      .getByTestId('stop')
      .click()
      .catch(() => undefined);
    await page.screenshot({ path: `${ARTIFACTS}/wallet-claimed.png`, fullPage: true });
    await context.close();
  } finally {
    await browser.close();
    await platform.stop();
  }
});
