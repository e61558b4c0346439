// The platform and browser the preference tests share (e2e/volunteer-governance.test.ts,
// e2e/volunteer-schedule.test.ts): a run whose rounds train for 20 s at up to 200 steps, so a
// pause shows in a round's idle time as the worker measured it. Registers its own before/after.
import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { DEFAULT_RUN } from '../shared/config.ts';

export function governedPlatform(): { browser: Browser; platform: PlatformProcess } {
  const fx = {} as { browser: Browser; platform: PlatformProcess };
  before(async () => {
    fx.platform = await startPlatformProcess(
      { inner: { ...DEFAULT_RUN.inner, steps: 200 }, timing: { trainMs: 20_000, exchangeMs: 3_000, reportMs: 5_000 } },
      { quiet: true },
    );
    fx.browser = await launchChromium();
  });
  after(async () => {
    await fx.browser?.close();
    await fx.platform?.stop();
  });
  return fx;
}
