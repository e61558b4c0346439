// Issue 20 items 5 and 6: axe-core finds no serious or critical violation on the volunteer page
// (before and after consent), the widget and the dashboard, in the light and the dark theme
// (prefers-color-scheme emulated); the install button appears on the browser's
// beforeinstallprompt (synthetic here) and hands the volunteer the browser's own prompt, and iOS
// Safari gets the Share-menu instructions instead. axe is injected by the test (a devDependency,
// never in the pages).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { waitHook } from './hook-wait.ts';

const ARTIFACTS = process.env.IDLEGRAD_ARTIFACTS ?? 'e2e/test-results/accessibility';
mkdirSync(ARTIFACTS, { recursive: true });
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let browser: Browser;
let platform: PlatformProcess;

before(async () => {
  platform = await startPlatformProcess({ inner: { steps: 5 }, timing: { trainMs: 5_000, exchangeMs: 2_000, reportMs: 4_000 } }, { quiet: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await platform?.stop();
});

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary: string }[];
}

/** axe-core's serious and critical violations on the page as it is now (every rule axe runs by default). */
async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE);
  const result = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] })`)) as { violations: AxeViolation[] };
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const describe = (vs: AxeViolation[]) =>
  vs
    .map((v) => `${v.impact} ${v.id} (${v.help}):\n${v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\n/g, ' ')}`).join('\n')}`)
    .join('\n');

const PAGES: { name: string; open: (page: Page) => Promise<void> }[] = [
  {
    name: 'volunteer page before consent',
    open: async (page) => {
      await page.goto(platform.url);
      await page.getByTestId('consent').waitFor({ timeout: 20_000 });
    },
  },
  {
    name: 'volunteer page after consent',
    open: async (page) => {
      await page.goto(platform.url);
      await page.getByTestId('consent').click();
      await waitHook(page, "h.state === 'ready'", 20_000);
      await page.getByTestId('preferences').waitFor({ timeout: 10_000 });
      await page.getByTestId('schedule-on').check(); // the schedule's controls too
    },
  },
  {
    name: 'widget',
    open: async (page) => {
      await page.goto(new URL('embed.html?partner=a11y-blog', platform.url).href);
      await page.getByTestId('consent').click();
      await page.getByTestId('start').waitFor({ timeout: 20_000 });
    },
  },
  {
    name: 'dashboard',
    open: async (page) => {
      await page.goto(new URL('dashboard.html', platform.url).href);
      await page.getByText('live', { exact: true }).waitFor({ timeout: 30_000 });
    },
  },
];

for (const scheme of ['light', 'dark'] as const)
  test(`axe-core: no serious or critical violation on the volunteer page, the widget and the dashboard (${scheme} theme)`, { timeout: 180_000 }, async () => {
    const failures: string[] = [];
    for (const p of PAGES) {
      const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1200, height: 900 } });
      try {
        const page = await context.newPage();
        await p.open(page);
        assert.equal(await page.evaluate(`matchMedia('(prefers-color-scheme: ${scheme})').matches`), true);
        const vs = await axeViolations(page);
        console.log(`# ${p.name}, ${scheme}: ${vs.length} serious/critical violation(s)${vs.length ? `\n${describe(vs)}` : ''}`);
        if (vs.length) {
          failures.push(`${p.name} (${scheme}):\n${describe(vs)}`);
          await page.screenshot({ path: `${ARTIFACTS}/${p.name.replace(/\W+/g, '-')}-${scheme}.png`, fullPage: true });
        }
      } finally {
        await context.close();
      }
    }
    assert.deepEqual(failures, []);
  });

test('the install button appears on beforeinstallprompt and opens the browser prompt; iOS Safari gets instructions', { timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(platform.url);
    await page.getByTestId('consent').waitFor({ timeout: 20_000 });
    assert.equal(await page.getByTestId('install').count(), 0, 'an install button before the browser offered installing');
    await page.evaluate(`(() => {
      const e = new Event('beforeinstallprompt', { cancelable: true });
      window.__install = { prompted: 0 };
      e.prompt = () => { window.__install.prompted++; return Promise.resolve(); };
      e.userChoice = Promise.resolve({ outcome: 'accepted', platform: 'web' });
      window.__install.notCancelled = window.dispatchEvent(e);
    })()`);
    await page.getByTestId('install').waitFor({ timeout: 5_000 });
    assert.equal(await page.evaluate('window.__install.notCancelled'), false, "the browser's own mini-infobar was not suppressed");
    await page.getByTestId('install').click();
    await page.getByTestId('install').waitFor({ state: 'detached', timeout: 5_000 });
    assert.equal(await page.evaluate('window.__install.prompted'), 1);
    assert.equal(await page.getByTestId('install-ios').count(), 0);
  } finally {
    await context.close();
  }
  const ios = await browser.newContext({
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
  });
  try {
    const page = await ios.newPage();
    await page.goto(platform.url);
    assert.match(await page.getByTestId('install-ios').innerText({ timeout: 20_000 }), /Share.*Add to Home Screen/);
    await page.screenshot({ path: `${ARTIFACTS}/install-ios.png` });
  } finally {
    await ios.close();
  }
});
