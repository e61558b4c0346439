// Issue 20 item 2: the widget as a good guest on a partner's page (another site than the
// platform): its iframe delegates only what the frame reads (battery, compute pressure), and a
// host page's visible-only option pauses training while that page is hidden and not otherwise,
// without touching the volunteer's own saved "pause while hidden" setting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Browser, Frame, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { waitHook } from './hook-wait.ts';

let browser: Browser;
let platform: PlatformProcess;
let host: Server;
let hostUrl: string;

before(async () => {
  platform = await startPlatformProcess({ inner: { steps: 5 }, timing: { trainMs: 5_000, exchangeMs: 2_000, reportMs: 4_000 } }, { quiet: true });
  const origin = new URL(platform.url).origin;
  // localhost (the partner) vs 127.0.0.1 (the platform): two sites, as in production.
  host = createServer((_req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner</title></head><body>
<idlegrad-widget partner="guest-blog" visible-only></idlegrad-widget>
<script src="${origin}/embed.js" async></script></body></html>`);
  });
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  hostUrl = `http://localhost:${(host.address() as { port: number }).port}/`;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await new Promise((r) => host?.close(r));
  await platform?.stop();
});

// Every frame's visibility, switchable from the test (headless pages are always visible).
const FAKE_VISIBILITY = `
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible'), configurable: true });
  window.__hide = (h) => { hidden = h; document.dispatchEvent(new Event('visibilitychange')); };
})();`;

async function widgetFrame(page: Page): Promise<Frame> {
  for (const t0 = Date.now(); Date.now() - t0 < 20_000; await page.waitForTimeout(100)) {
    const f = page.frames().find((f) => f.url().includes('/embed.html'));
    if (f) return f;
  }
  throw new Error('the widget frame did not load');
}

test("the widget's iframe delegates battery and compute pressure; the host's visible-only pauses it while hidden", { timeout: 90_000 }, async () => {
  const context = await browser.newContext();
  try {
    await context.addInitScript(FAKE_VISIBILITY);
    const page = await context.newPage();
    await page.goto(hostUrl);
    const iframe = page.locator('idlegrad-widget iframe');
    await iframe.waitFor({ timeout: 20_000 });
    assert.equal(await iframe.getAttribute('allow'), 'battery; compute-pressure');
    const frame = await widgetFrame(page);
    assert.equal(new URL(frame.url()).searchParams.get('visible'), '1');
    await frame.getByTestId('consent').click();
    await waitHook(frame, "h.state === 'ready'", 20_000);
    assert.match(await frame.getByTestId('widget-paused').innerText(), /only while this page is visible/);
    assert.deepEqual(await frame.evaluate('window.__idlegrad.governance.pausedBy'), []);
    await frame.evaluate('window.__hide(true)');
    await waitHook(frame, "h.governance.pausedBy.includes('hidden')", 5_000);
    assert.match(await frame.getByTestId('widget-paused').innerText(), /paused: this tab is hidden/);
    await frame.evaluate('window.__hide(false)');
    await waitHook(frame, 'h.governance.pausedBy.length === 0', 5_000);
    assert.equal(await frame.evaluate('window.__idlegrad.governance.pauseWhenHidden'), false, "the host's option changed the volunteer's setting");
  } finally {
    await context.close();
  }
});
