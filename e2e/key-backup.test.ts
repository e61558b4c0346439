// Issue 20 item 3: credit that survives a browser. Browser context A opts in, trains until the
// ledger credits its device key, and downloads the key as an encrypted keystore v3 file; a fresh
// context B (another browser profile: its own IndexedDB) opts in with a new key, is refused the
// file under a wrong passphrase, reads it under the right one, confirms, and then shows A's
// address and A's credit; the coordinator answers B's hello as A's key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Address } from 'viem';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, TEST_ROUND_TIMING } from './platform-process.ts';
import { waitHook } from './hook-wait.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { formatWei } from '../web/src/client/format.ts';

const ARTIFACTS = process.env.IDLEGRAD_ARTIFACTS ?? 'e2e/test-results/key-backup';
mkdirSync(ARTIFACTS, { recursive: true });

const PASSPHRASE = 'a passphrase for the backup';

async function optIn(context: BrowserContext, url: string): Promise<{ page: Page; address: Address }> {
  const page = await context.newPage();
  await page.goto(url);
  await page.getByTestId('consent').click();
  await waitHook(page, "h.address !== null && h.state === 'ready'", 20_000);
  return { page, address: (await page.evaluate('window.__idlegrad.address')) as Address };
}

async function until<T>(what: string, timeoutMs: number, f: () => Promise<T | null>): Promise<T> {
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 500))) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what} within ${timeoutMs} ms`);
  }
}

test('a device key exported from one browser context and imported into a fresh one carries its credit', { timeout: 5 * 60_000 }, async () => {
  const platform = await startPlatformProcess({ maxRounds: 3, inner: { steps: 20 }, timing: TEST_ROUND_TIMING }, { quiet: true });
  const browser = await launchChromium();
  const api = new CoordinatorApi(platform.url);
  try {
    // A earns credit.
    const contextA = await browser.newContext({ acceptDownloads: true });
    const a = await optIn(contextA, platform.url);
    await a.page.getByTestId('key-loss').waitFor({ timeout: 20_000 });
    assert.match(await a.page.getByTestId('key-loss').innerText(), /lives only in this browser/);
    await a.page.getByTestId('start').click();
    await until('the ledger credited A', 200_000, async () => {
      const s = await api.account(a.address).catch(() => null);
      return s && BigInt(s.creditWei) > 0n ? s : null;
    });
    await a.page.getByTestId('stop').click();
    await waitHook(a.page, "h.state === 'stopped' && h.outbox === 0", 20_000);
    const creditA = (await api.account(a.address)).creditWei;
    console.log(`# A ${a.address}: ${creditA} wei credited when it stopped`);

    // A exports: the two passphrases must agree; the file is keystore v3 and holds no key in clear.
    await a.page.getByTestId('backup-pass').fill(PASSPHRASE);
    await a.page.getByTestId('backup-pass2').fill(PASSPHRASE + 'x');
    await a.page.getByTestId('export-key').click();
    assert.match(await a.page.getByTestId('backup-message').innerText(), /passphrases differ/);
    await a.page.getByTestId('backup-pass2').fill(PASSPHRASE);
    const [download] = await Promise.all([a.page.waitForEvent('download'), a.page.getByTestId('export-key').click()]);
    const file = join(ARTIFACTS, download.suggestedFilename());
    await download.saveAs(file);
    const keystore = JSON.parse(readFileSync(file, 'utf8')) as { version: number; address: string; crypto: { kdf: string; cipher: string } };
    assert.equal(keystore.version, 3);
    assert.equal(`0x${keystore.address}`, a.address.toLowerCase());
    assert.deepEqual([keystore.crypto.kdf, keystore.crypto.cipher], ['pbkdf2', 'aes-128-ctr']);
    await contextA.close();

    // B: a fresh profile with its own new key.
    const contextB = await browser.newContext();
    const b = await optIn(contextB, platform.url);
    assert.notEqual(b.address, a.address);
    await b.page.getByTestId('import-file').setInputFiles(file);
    await b.page.getByTestId('import-pass').fill('not the passphrase');
    await b.page.getByTestId('read-backup').click();
    await b.page
      .getByTestId('backup-message')
      .filter({ hasText: /wrong passphrase/ })
      .waitFor({ timeout: 20_000 });
    assert.equal(await b.page.getByTestId('import-confirm').count(), 0, 'a wrong passphrase offered a replacement');
    assert.equal(await b.page.evaluate('window.__idlegrad.address'), b.address);

    await b.page.getByTestId('import-pass').fill(PASSPHRASE);
    await b.page.getByTestId('read-backup').click();
    const candidate = b.page.getByTestId('import-candidate');
    await candidate.waitFor({ timeout: 20_000 });
    const text = await candidate.innerText();
    // A round A trained before Stop may have been credited since: the ledger's figure now is A's credit.
    const ledger = await api.account(a.address);
    assert.ok(BigInt(ledger.creditWei) >= BigInt(creditA));
    assert.ok(text.includes(a.address), `the confirmation does not name A's key: ${text}`);
    assert.ok(text.includes(`${formatWei(ledger.creditWei)} `), `the confirmation does not show A's credit (${ledger.creditWei} wei): ${text}`);
    // Nothing is replaced before the volunteer confirms.
    assert.equal(await b.page.evaluate('window.__idlegrad.address'), b.address);
    await b.page.getByTestId('import-confirm').click();
    await waitHook(b.page, `h.address === ${JSON.stringify(a.address)}`, 20_000);
    await b.page
      .getByTestId('credit')
      .filter({ hasText: formatWei(ledger.creditWei) })
      .waitFor({ timeout: 20_000 });

    // After a reload B still is A (the key is stored), and the coordinator welcomes it as A.
    await b.page.reload();
    await waitHook(b.page, `h.address === ${JSON.stringify(a.address)} && h.state === 'ready'`, 20_000);
    await b.page
      .getByTestId('credit')
      .filter({ hasText: formatWei((await api.account(a.address)).creditWei) })
      .waitFor({ timeout: 20_000 });
    await b.page.screenshot({ path: `${ARTIFACTS}/imported.png`, fullPage: true });
    await contextB.close();
  } finally {
    await browser.close();
    await platform.stop();
  }
});
