// Issue 5 item 7 (and issue 6 item 8): the page finds an injected wallet by EIP-6963
// discovery, the wallet signs the EIP-712 Delegation for the device key, the coordinator binds
// it, the device's credit accrues to the wallet, and the claim pays the wallet on chain.
// Issue 20 item 4: the wallet starts on another chain (mainnet) and does not know the
// platform's: binding first switches it (EIP-3326), adding the chain on 4902 (EIP-3085); a
// declined switch is said on the page; a wallet moved to another chain meanwhile is switched
// back before the claim; the claim and the wallet link to the configured explorer; amounts
// carry the token's symbol read from the contract; "add to wallet" (EIP-747); the claim is
// still shown after a reload. The wallet (e2e/wallet-fake.ts) is backed by one of anvil's dev
// accounts and enforces its active chain as MetaMask does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createPublicClient, http, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, TEST_ROUND_TIMING } from './platform-process.ts';
import { DEV_ACCOUNT_KEYS } from '../coordinator/chain/index.ts';
import { rewardTokenAbi } from '../shared/chain/abi.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { ChainEnforcingWallet, INJECTED_WALLET, TEST_WALLET_RDNS } from './wallet-fake.ts';

const ARTIFACTS = process.env.IDLEGRAD_ARTIFACTS ?? 'e2e/test-results/wallet';
mkdirSync(ARTIFACTS, { recursive: true });

const EXPLORER = 'https://explorer.example';

test('an EIP-6963 wallet binds the device by an EIP-712 Delegation; credit accrues to it and the claim pays it', { timeout: 5 * 60_000 }, async () => {
  const platform = await startPlatformProcess(
    { maxRounds: 2, inner: { steps: 20 }, rewards: { epochRounds: 1 }, timing: TEST_ROUND_TIMING },
    { quiet: true, env: { IDLEGRAD_EXPLORER_URL: EXPLORER } },
  );
  const browser = await launchChromium();
  try {
    const { chain } = await new CoordinatorApi(platform.url).run();
    assert.equal(chain.explorerUrl, EXPLORER);
    const rpc = new URL(chain.rpcUrl, platform.url).href;
    const account = privateKeyToAccount(DEV_ACCOUNT_KEYS[7]);
    const publicClient = createPublicClient({ transport: http(rpc) });
    const wallet = new ChainEnforcingWallet({ account, chainId: chain.chainId, rpc, startChain: 1 });
    const walletAddress = account.address;

    const context = await browser.newContext();
    await context.exposeFunction('__walletRpc', wallet.rpc);
    await context.addInitScript(INJECTED_WALLET);
    const page = await context.newPage();
    const wcRequests: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/wc/')) wcRequests.push(r.url());
    });
    await page.goto(platform.url);
    await page.getByTestId('consent').click();
    const bind = page.getByTestId(`bind-${TEST_WALLET_RDNS}`);
    // Declined: the page says why, and nothing is signed.
    wallet.declineSwitch = true;
    await bind.click({ timeout: 20_000 });
    await page
      .getByTestId('wallet-section')
      .filter({ hasText: /declined to switch to chain \d+/ })
      .waitFor({ timeout: 20_000 });
    assert.deepEqual(wallet.signed, []);
    assert.equal(wallet.active, 1);
    wallet.declineSwitch = false;
    await bind.click({ timeout: 20_000 });
    // No WalletConnect project id is configured here: no WalletConnect choice, and its bundle is never fetched.
    assert.equal(chain.walletConnect, undefined);
    assert.equal(await page.getByTestId('bind-walletconnect').count(), 0, 'WalletConnect is offered without a project id');
    await page.getByTestId('wallet').waitFor({ timeout: 30_000 });
    assert.deepEqual(wallet.signed, ['Delegation']);
    // Switch (4902: unknown), add, then sign on the platform's chain.
    const order = (m: string, from = 0) => wallet.calls.indexOf(m, from);
    const bindFrom = wallet.calls.lastIndexOf('wallet_switchEthereumChain', order('wallet_addEthereumChain'));
    assert.ok(bindFrom >= 0 && order('wallet_addEthereumChain', bindFrom) < order('eth_signTypedData_v4', bindFrom), `bind: ${wallet.calls.join(' ')}`);
    assert.equal(wallet.active, chain.chainId);
    assert.equal(await page.getByTestId('wallet').getAttribute('href'), `${EXPLORER}/address/${walletAddress.toLowerCase()}`);
    const device = (await page.evaluate(() => (window as unknown as { __idlegrad: { address: string } }).__idlegrad.address)).toLowerCase();
    const deviceSummary = await new CoordinatorApi(platform.url).account(device as Address);
    assert.equal(deviceSummary.wallet, walletAddress.toLowerCase(), 'the coordinator did not record the delegation');

    const before = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [walletAddress] });
    await page.getByTestId('start').click();
    const claim = page.getByTestId('claim');
    // Enabled once an epoch holding the wallet's credit is posted.
    for (const t0 = Date.now(); !(await claim.isEnabled()); await new Promise((r) => setTimeout(r, 250)))
      if (Date.now() - t0 > 200_000) throw new Error('the claim was not enabled within 200 s');
    // The volunteer moved the wallet to another network meanwhile: the claim switches it back first.
    wallet.active = 1;
    const claimFrom = wallet.calls.length;
    await claim.click();
    await page.getByTestId('claim-tx').waitFor({ timeout: 60_000 });
    const afterClaim = wallet.calls.slice(claimFrom);
    assert.ok(
      afterClaim.includes('wallet_switchEthereumChain') && afterClaim.indexOf('wallet_switchEthereumChain') < afterClaim.indexOf('eth_sendTransaction'),
      `claim: ${afterClaim.join(' ')}`,
    );
    assert.ok(!afterClaim.includes('wallet_addEthereumChain'), 'the chain was added again');
    const after = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [walletAddress] });
    const walletSummary = await new CoordinatorApi(platform.url).account(walletAddress);
    console.log(`# wallet claim: ${after - before} wei to ${walletAddress}; ledger says ${walletSummary.claimedWei} claimed`);
    assert.ok(after > before, 'the wallet received no tokens');
    assert.equal((after - before).toString(), walletSummary.claimedWei, 'the wallet was paid a different amount than the ledger holds');
    // The token's symbol, read from the contract, beside the amounts; "add to wallet" asks with the contract's figures.
    const symbol = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'symbol' });
    assert.equal(symbol, 'IDLE');
    assert.match(await page.getByTestId('credit').locator('..').innerText(), /\bIDLE\b/);
    await page.getByTestId('watch-token').click();
    await page.getByText(/IDLE added to your wallet/).waitFor({ timeout: 20_000 });
    assert.deepEqual(wallet.watched, [{ address: chain.token, symbol: 'IDLE', decimals: 18 }]);
    const deviceBalance = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [device as Address] });
    assert.equal(deviceBalance, 0n, 'tokens went to the device key, not to the delegated wallet');
    // The timeline reaches 'claimed', with the claim transaction, in the page and through the API.
    await page.locator('[data-testid="timeline-row"][data-state="claimed"]').first().waitFor({ timeout: 30_000 });
    const txText = await page.getByTestId('claim-tx').getAttribute('title');
    const rows = (await new CoordinatorApi(platform.url).account(device as Address)).recent;
    const claimedRow = rows.find((r) => r.state === 'claimed')!;
    assert.equal(claimedRow.beneficiary, walletAddress.toLowerCase());
    const c = await new CoordinatorApi(platform.url).contribution(claimedRow.id!);
    assert.equal(c.timeline.at(-1)?.step, 'claimed');
    assert.equal(c.timeline.at(-1)?.status, 'current');
    assert.equal(c.claimTx, txText);
    assert.equal(await page.getByTestId('claim-tx').getAttribute('href'), `${EXPLORER}/tx/${txText}`);
    assert.match(c.timeline.find((e) => e.step === 'batched')?.detail ?? '', /^epoch \d+$/);
    assert.equal(wcRequests.length, 0, `the page fetched WalletConnect without a project id: ${wcRequests.join(', ')}`);
    await page
      .getByTestId('stop')
      .click()
      .catch(() => undefined);
    await page.screenshot({ path: `${ARTIFACTS}/wallet-claimed.png`, fullPage: true });
    // The claim's status survives a reload (kept per device, storage 'claim').
    await page.reload();
    await page.getByTestId('claim-tx').waitFor({ timeout: 20_000 });
    assert.equal(await page.getByTestId('claim-tx').getAttribute('title'), txText);
    await context.close();
  } finally {
    await browser.close();
    await platform.stop();
  }
});
