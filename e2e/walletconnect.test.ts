// Issue 5 item 7 / issue 6 item 8: WalletConnect, for a volunteer without an injected wallet.
// The platform has a WalletConnect project id configured; the page loads the WalletConnect
// bundle only when the volunteer asks for it, shows the pairing URI, and a wallet on "another
// device" — WalletConnect's own sign client in this Node process, holding an anvil dev
// account — pairs with it, approves, signs the EIP-712 Delegation, and later sends the claim
// transaction that pays it. Everything goes through a WalletConnect relay on localhost
// (e2e/wc-relay.ts), the real relay being out of reach here; both ends are WalletConnect's
// real client libraries. Both are optional dependencies (npm install leaves them out; .ci/run
// installs them): without them this test fails, naming what to install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createPublicClient, http, type Address } from 'viem';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess } from './platform-process.ts';
import { startWcRelay } from './wc-relay.ts';
import { OPTIONAL_PACKAGES, requirePackages } from '../web/optional-packages.ts';
import { DEV_ACCOUNT_KEYS } from '../coordinator/chain/index.ts';
import { rewardTokenAbi } from '../shared/chain/abi.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';

const ARTIFACTS = process.env.IDLEGRAD_ARTIFACTS ?? 'e2e/test-results/walletconnect';
mkdirSync(ARTIFACTS, { recursive: true });
const PROJECT_ID = '1d9c6e0a5b7f4c3e8a2d0f6b9e1c7a45';

test(
  'WalletConnect loads only when asked, pairs a wallet on another device, binds it by its signed Delegation, and the claim pays it',
  { timeout: 5 * 60_000 },
  async () => {
    requirePackages([...OPTIONAL_PACKAGES.walletConnect, ...OPTIONAL_PACKAGES.walletConnectWallet], 'the WalletConnect test');
    const { startWcWallet } = await import('./wc-wallet.ts');
    const relay = await startWcRelay();
    const platform = await startPlatformProcess(
      { maxRounds: 2, inner: { steps: 20 }, rewards: { epochRounds: 1 } },
      { quiet: true, env: { IDLEGRAD_WALLETCONNECT_PROJECT_ID: PROJECT_ID, IDLEGRAD_WALLETCONNECT_RELAY_URL: relay.url } },
    );
    const browser = await launchChromium();
    let wallet: Awaited<ReturnType<typeof import('./wc-wallet.ts').startWcWallet>> | null = null;
    try {
      const { chain } = await new CoordinatorApi(platform.url).run();
      assert.deepEqual(chain.walletConnect, { projectId: PROJECT_ID, relayUrl: relay.url }, 'the platform does not offer its WalletConnect settings');
      const rpc = new URL(chain.rpcUrl, platform.url).href;
      wallet = await startWcWallet({ projectId: PROJECT_ID, relayUrl: relay.url, key: DEV_ACCOUNT_KEYS[8], chainId: chain.chainId, rpcUrl: rpc });
      const publicClient = createPublicClient({ transport: http(rpc) });

      const context = await browser.newContext();
      const page = await context.newPage();
      const wcRequests: string[] = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname.startsWith('/wc/')) wcRequests.push(r.url());
      });
      await page.goto(platform.url);
      await page.getByTestId('consent').click();
      const bind = page.getByTestId('bind-walletconnect');
      await bind.waitFor({ timeout: 30_000 });
      await page.waitForTimeout(1_000);
      assert.equal(wcRequests.length, 0, `the page loaded WalletConnect before the volunteer asked for it: ${wcRequests.join(', ')}`);

      await bind.click();
      const uriBox = page.getByTestId('walletconnect-uri');
      await uriBox.waitFor({ timeout: 60_000 });
      const uri = await uriBox.inputValue();
      assert.match(uri, /^wc:[0-9a-f]{64}@2\?/, `not a WalletConnect v2 pairing URI: ${uri}`);
      assert.ok(
        wcRequests.some((u) => u.endsWith('/wc/walletconnect.js')),
        `the WalletConnect bundle was not fetched on demand: ${JSON.stringify(wcRequests)}`,
      );
      await page.screenshot({ path: `${ARTIFACTS}/walletconnect-pairing.png`, fullPage: true });

      await wallet.pair(uri);
      await page
        .getByTestId('wallet')
        .waitFor({ timeout: 60_000 })
        .catch(async (e) => {
          console.log('# the page when the binding did not show: ' + (await page.locator('body').innerText()).slice(0, 4000).replace(/\n/g, '\n# '));
          throw e;
        });
      assert.deepEqual(
        wallet.requests.filter((m) => m.startsWith('eth_sign')),
        ['eth_signTypedData_v4'],
        'the wallet was not asked to sign exactly the Delegation',
      );
      const device = (await page.evaluate(() => (window as unknown as { __idlegrad: { address: string } }).__idlegrad.address)).toLowerCase();
      const deviceSummary = await new CoordinatorApi(platform.url).account(device as Address);
      assert.equal(deviceSummary.wallet, wallet.address.toLowerCase(), 'the coordinator did not record the delegation to the WalletConnect wallet');
      for (const m of ['wc_proposeSession', 'wc_approveSession', 'irn_publish'])
        assert.ok(relay.methods.includes(m), `the session never used the relay's ${m}`);

      // Train, then claim: the claim transaction is sent by the wallet, over WalletConnect.
      const before = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [wallet.address] });
      await page.getByTestId('start').click();
      await page.getByTestId('claim').click({ timeout: 200_000 }); // enabled once an epoch holding the wallet's credit is posted
      await page.getByTestId('claim-tx').waitFor({ timeout: 90_000 });
      assert.ok(wallet.requests.includes('eth_sendTransaction'), `the claim was not sent through the wallet: ${JSON.stringify(wallet.requests)}`);
      const after = await publicClient.readContract({ address: chain.token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [wallet.address] });
      const walletSummary = await new CoordinatorApi(platform.url).account(wallet.address);
      console.log(
        `# walletconnect: relay methods ${[...new Set(relay.methods)].join(', ')}; wallet requests ${wallet.requests.join(', ')}; claim paid ${after - before} wei`,
      );
      assert.ok(after > before, 'the WalletConnect wallet received no tokens');
      assert.equal((after - before).toString(), walletSummary.claimedWei, 'the wallet was paid a different amount than the ledger holds');
      const deviceBalance = await publicClient.readContract({
        address: chain.token,
        abi: rewardTokenAbi,
        functionName: 'balanceOf',
        args: [device as Address],
      });
      assert.equal(deviceBalance, 0n, 'tokens went to the device key, not to the delegated wallet');
      assert.deepEqual(relay.unknown, [], 'the clients used relay methods the test relay does not implement');
      await page
        .getByTestId('stop')
        .click()
        .catch(() => undefined);
      await page.screenshot({ path: `${ARTIFACTS}/walletconnect-claimed.png`, fullPage: true });
      await context.close();
    } finally {
      await wallet?.close();
      await browser.close();
      await platform.stop();
      await relay.close();
    }
  },
);
