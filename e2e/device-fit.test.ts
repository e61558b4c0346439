// A run that needs more than the volunteer's GPU offers: the page says so before consent, with
// the limit it exceeds, having touched no device (a real platform child process serving a GPT
// run whose (B·T, vocab) logits need a 4 GiB binding; headless Chromium on SwiftShader).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatformProcess } from './platform-process.ts';
import { grammarCorpus } from './grammar-corpus.ts';
import { launchChromium } from './chromium.ts';
import { readHook } from './hook-wait.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';

test('a run needing more than the adapter offers: the page says why this device cannot join, before consent', { timeout: 3 * 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-device-fit-'));
  writeFileSync(join(dir, 'corpus.txt'), grammarCorpus(20_000, 5));
  const platform = await startPlatformProcess(
    { preset: 'gpt-micro', gpt: { context: 1024, layers: 1 }, inner: { steps: 1, batchSize: 4096 } },
    { dataDir: join(dir, 'data'), quiet: !process.env.IDLEGRAD_E2E_VERBOSE, env: { IDLEGRAD_TEXT: join(dir, 'corpus.txt') } },
  );
  const browser = await launchChromium();
  try {
    const { run } = await new CoordinatorApi(platform.url).run();
    assert.equal(run.needs?.largestBindingBytes, 4096 * 1024 * 256 * 4, 'the spec carries its needs: the logits binding');
    const page = await browser.newPage();
    await page.goto(platform.url);
    await page.getByTestId('consent').waitFor({ timeout: 30_000 });
    const unfit = page.getByTestId('profile-unfit');
    await unfit.waitFor({ timeout: 30_000 });
    const text = (await unfit.textContent()) ?? '';
    assert.match(
      text,
      new RegExp(
        `^This device cannot join run ${run.id} "gpt-micro": the run binds a 4096 MiB buffer and this GPU binds at most \\d+ MiB \\(maxStorageBufferBindingSize\\)`,
      ),
    );
    assert.match(text, /GPU memory in all; try a device with a larger GPU\.$/);
    // The consent card names the run's own model, read with the same GET /api/run.
    const params = new Intl.NumberFormat('en-US').format(run.paramCount);
    assert.equal(
      await page.getByTestId('consent-intro').textContent(),
      `idlegrad trains a shared neural network (a GPT language model of ${params} parameters) on volunteers' GPUs. If you opt in:`,
    );
    assert.equal(await readHook(page, (h) => h.state), 'needs-consent', 'before consent');
    assert.equal(await readHook(page, (h) => h.gpu.status), 'idle', 'no device was acquired to find this out');
    await page.screenshot({ path: 'e2e/test-results/device-fit-unfit.png', fullPage: true }).catch(() => undefined);
  } finally {
    await browser.close();
    await platform.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
