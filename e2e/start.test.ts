// `npm start` as a newcomer runs it: the volunteer page and dashboard are served, a page
// opened in Chromium contributes in its first full round, and Ctrl-C (SIGINT to the
// process group) stops everything it started, anvil included.
import type { Address } from 'viem';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './chromium.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { npmStart, processesMentioning } from './npm-start.ts';

test('npm start serves the app, a fresh page contributes in its first round, Ctrl-C leaves no process behind', { timeout: 6 * 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-start-'));
  const started = await npmStart({
    env: { PORT: '0', IDLEGRAD_DATA_DIR: dataDir, IDLEGRAD_RUN: JSON.stringify({ inner: { steps: 20 } }) },
    timeoutMs: 180_000,
  });
  const { url } = started;
  const out = started.output();
  try {
    assert.match(out, /Dashboard\s+http:\/\/\S+dashboard\.html/);
    assert.match(out, /Embed snippet\s+<script src="http:\/\/\S+embed\.js"/);
    for (const path of ['', 'dashboard.html', 'embed.html', 'embed.js']) {
      const res = await fetch(new URL(path, url));
      assert.equal(res.status, 200, `GET /${path}`);
    }
    assert.ok(processesMentioning(dataDir).some(Boolean), 'anvil runs with the data directory');

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(url);
      await page.getByTestId('consent').click();
      await page.getByTestId('start').click();
      // The first round this page is part of (round 0: it starts when the first volunteer
      // is ready) must end with its contribution accepted in the ledger.
      // The shipped page has no test hook: the device key is read where the volunteer sees it.
      const keyCell = page.getByTestId('device-key');
      await page.waitForFunction(() => /^0x[0-9a-fA-F]{40}$/.test(document.querySelector('[data-testid="device-key"]')?.textContent ?? ''), null, {
        timeout: 60_000,
      });
      const address = ((await keyCell.textContent()) ?? '').trim();
      const deadline = Date.now() + 120_000;
      let first: { round: number; state: string } | undefined;
      while (!first && Date.now() < deadline) {
        const summary = await new CoordinatorApi(url).account(address as Address);
        first = summary.recent.find((c) => c.round === 0 && c.state !== 'pending');
        if (!first) await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(first, 'the page reported for round 0 within 120 s');
      assert.ok(['accepted', 'verified', 'batched', 'claimable'].includes(first.state), `round 0 contribution is ${first.state}`);
    } finally {
      await browser.close();
    }
  } finally {
    const { code, left } = await started.interrupt();
    rmSync(dataDir, { recursive: true, force: true });
    assert.notEqual(code, 'hung', 'npm start exits on Ctrl-C');
    assert.deepEqual(left, [], 'no process of this platform outlives Ctrl-C');
  }
});
