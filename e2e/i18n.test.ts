// Issue 20 item 5: the volunteer page speaks the reader's language. A browser context with
// locale de-DE gets the German catalog (a chunk loaded on demand, never fetched by an English
// reader) and <html lang="de">; en-US gets the English text the other tests match.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';

let browser: Browser;
let platform: PlatformProcess;

before(async () => {
  platform = await startPlatformProcess({ inner: { steps: 5 } }, { quiet: true });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await platform?.stop();
});

const GERMAN_HEADING = 'Bevor irgendetwas läuft';

/** The volunteer page in a fresh context with `locale`, opted in; with the text of every script it fetched. */
async function openIn(locale: string): Promise<{ page: Page; scripts: string[]; close: () => Promise<void> }> {
  const context = await browser.newContext({ locale });
  const page = await context.newPage();
  const scripts: Promise<string>[] = [];
  page.on('response', (r) => {
    if (r.request().resourceType() === 'script') scripts.push(r.text().catch(() => ''));
  });
  await page.goto(platform.url);
  await page.getByTestId('consent').waitFor({ timeout: 20_000 });
  return { page, scripts: await Promise.all(scripts), close: () => context.close() };
}

test('a de-DE browser shows the volunteer page in German, before and after consent', { timeout: 90_000 }, async () => {
  const { page, scripts, close } = await openIn('de-DE');
  try {
    assert.equal(await page.locator('html').getAttribute('lang'), 'de');
    assert.equal(await page.getByRole('heading', { level: 2 }).first().textContent(), GERMAN_HEADING);
    assert.equal((await page.getByTestId('consent').textContent())?.trim(), 'Ich stimme zu — dieser Tab darf meine GPU nutzen');
    // The run's own model (the default MLP run), once the page has read it.
    await page.getByText('(einen MNIST-Ziffernklassifikator)', { exact: false }).waitFor({ timeout: 20_000 });
    assert.equal(await page.getByTestId('state').count(), 0);
    assert.ok(
      scripts.some((s) => s.includes(GERMAN_HEADING)),
      'the German catalog was fetched',
    );
    await page.getByTestId('consent').click();
    await page.getByTestId('revoke').waitFor({ timeout: 20_000 });
    assert.equal((await page.getByTestId('revoke').textContent())?.trim(), 'Zustimmung widerrufen');
    await page.getByRole('heading', { name: 'Training' }).waitFor();
    await page.getByText('Lokaler Verlust').waitFor();
    await page.waitForFunction(
      () => ['bereit', 'rechnet', 'wartet auf Zustimmung'].includes(document.querySelector('[data-testid=state]')?.textContent ?? ''),
      null,
      {
        timeout: 20_000,
      },
    );
  } finally {
    await close();
  }
});

test('an en-US browser shows the English page and never fetches the German catalog', { timeout: 60_000 }, async () => {
  const { page, scripts, close } = await openIn('en-US');
  try {
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal(await page.getByRole('heading', { level: 2 }).first().textContent(), 'Before anything runs');
    assert.equal((await page.getByTestId('consent').textContent())?.trim(), 'I agree — let this tab use my GPU');
    assert.ok(!scripts.some((s) => s.includes(GERMAN_HEADING)), 'an English reader fetched the German catalog');
    await page.getByTestId('consent').click();
    await page.getByTestId('revoke').waitFor({ timeout: 20_000 });
    assert.equal((await page.getByTestId('revoke').textContent())?.trim(), 'Revoke consent');
  } finally {
    await close();
  }
});
