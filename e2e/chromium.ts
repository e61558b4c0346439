// Headless Chromium for the browser tests and the swarm: Debian's /usr/bin/chromium through
// playwright-core (`npx playwright install` cannot reach its CDN here; see DESIGN.md). WebGPU
// runs on SwiftShader when the machine has no GPU.
import { chromium, type Browser } from 'playwright-core';
import { timedStep } from './harness-times.ts';

/** Flags every launch needs: WebGPU on, and nothing that phones home or waits for a profile. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
] as const;

export interface LaunchOptions {
  /** Default true (`--headless=new`). */
  headless?: boolean;
}

/** Launches Chromium from $CHROMIUM_PATH, or /usr/bin/chromium. */
export async function launchChromium(opts: LaunchOptions = {}): Promise<Browser> {
  const headless = opts.headless ?? true;
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  try {
    return await timedStep('browser launch', () =>
      chromium.launch({
        executablePath,
        headless,
        args: [...CHROMIUM_ARGS, ...(headless ? ['--headless=new'] : [])],
      }),
    );
  } catch (cause) {
    throw new Error(`could not launch Chromium at ${executablePath} (set CHROMIUM_PATH to another binary): ${String(cause)}`, { cause });
  }
}
