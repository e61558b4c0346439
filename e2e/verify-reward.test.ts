// "Verify my reward": the page checks its ledger leaf against the root the
// RewardDistributor holds on chain, by itself — and a tampered proof fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, TEST_ROUND_TIMING } from './platform-process.ts';
import { parseRewardProof } from '../shared/wire/index.ts';

test('a volunteer verifies its reward against the on-chain root; a tampered proof is caught', { timeout: 5 * 60_000 }, async () => {
  const platform = await startPlatformProcess({ maxRounds: 2, inner: { steps: 20 }, rewards: { epochRounds: 1 }, timing: TEST_ROUND_TIMING }, { quiet: true });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(platform.url);
    await page.getByTestId('consent').click();
    await page.getByTestId('start').click();
    const verify = page.getByTestId('verify-reward');
    await verify.click({ timeout: 180_000 }); // enabled once an epoch holding this account's credit is posted
    const result = page.getByTestId('reward-check');
    await result.waitFor({ timeout: 30_000 });
    assert.match(await result.innerText(), /^✓ .* IDLE \(epoch \d+\) are in the on-chain root 0x/); // the symbol read from the token contract

    // The same check with a proof for one wei more: the page must refuse it.
    await page.route('**/reward-proof', async (route) => {
      const res = await route.fetch();
      const body = parseRewardProof(await res.json(), 'reward proof');
      await route.fulfill({ response: res, json: { ...body, cumulativeWei: (BigInt(body.cumulativeWei) + 1n).toString() } });
    });
    await verify.click();
    await page.waitForFunction(() => document.querySelector('[data-testid="reward-check"]')?.textContent?.includes('✗'), null, { timeout: 30_000 });
  } finally {
    await browser.close();
    await platform.stop();
  }
});
