// Issue 20 item 1 in real Chromium against a real coordinator: the weekly schedule and "only
// while charging" pause the worker's training and resume it on their own, as the worker measures
// it (the round's GPU-busy time against its wall time), with the effect shown in words; the
// rules survive a reload. The clock and the Battery Status API are stubbed by an init script:
// the page's clock is moved less than a minute ahead, to just before a minute boundary, so a
// schedule that opens at that minute opens seconds later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import type { Governance } from '../web/src/client/governance.ts';
import { readHook, waitHook } from './hook-wait.ts';
import { governedPlatform } from './governed-platform.ts';

const ARTIFACTS = process.env.IDLEGRAD_ARTIFACTS ?? 'e2e/test-results/volunteer-schedule';
mkdirSync(ARTIFACTS, { recursive: true });

const fx = governedPlatform();
const hook = readHook;

// A string, not a function: tsx keeps names with a helper (__name) the page does not have.
const FAKE_MACHINE = `
(() => {
  const RealDate = Date;
  let offset = 0;
  const now = () => RealDate.now() + offset;
  globalThis.Date = class extends RealDate {
    constructor(...a) { if (a.length === 0) super(now()); else super(...a); }
    static now() { return now(); }
  };
  const battery = Object.assign(new EventTarget(), { level: 0.9, charging: true });
  Object.defineProperty(Navigator.prototype, 'getBattery', { value: () => Promise.resolve(battery), configurable: true });
  window.__fake = {
    // Moves the clock to just before the next minute boundary at least 'lead' ms ahead; returns it.
    clockBeforeMinute(lead) {
      const real = RealDate.now();
      let boundary = Math.ceil(real / 60000) * 60000;
      if (boundary - lead < real) boundary += 60000;
      offset = boundary - lead - real;
      return boundary;
    },
    battery(level, charging) {
      Object.assign(battery, { level, charging });
      battery.dispatchEvent(new Event('levelchange'));
      battery.dispatchEvent(new Event('chargingchange'));
    },
  };
})();`;
const PAUSE_MS = 8_000;

const governance = (page: Page) => hook(page, (h) => h.governance as unknown as Governance);
const localHHMM = (page: Page, t: number) =>
  page.evaluate((t) => {
    const d = new Date(t);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }, t);

/** The next round's duty as the worker measured it: GPU-busy ms against wall ms. */
async function nextDuty(page: Page, after: number) {
  await waitHook(page, `h.lastDuty !== null && h.lastDuty.round > ${after}`, 150_000);
  return (await hook(page, (h) => h.lastDuty))!;
}

test(
  'the schedule and "only while charging" pause training in the worker and resume it on their own; the rules survive a reload',
  { timeout: 420_000 },
  async () => {
    const context = await fx.browser.newContext();
    try {
      await context.addInitScript(FAKE_MACHINE);
      const page = await context.newPage();
      await page.goto(fx.platform.url);
      await page.getByTestId('consent').click();
      await waitHook(page, "h.address !== null && h.state === 'ready'", 20_000);
      assert.equal((await governance(page)).preset, 'medium', 'the default budget is Medium');
      // Full budget: a round's idle time is then the pause, not the duty cycle.
      await page.getByTestId('preset-full').check();
      await page.getByTestId('start').click();
      await waitHook(page, "h.phase === 'training'", 150_000);
      const r0 = await hook(page, (h) => h.round!);

      // A schedule that opens PAUSE_MS from now (on the page's clock) and runs for two hours.
      const opens = (await page.evaluate(`window.__fake.clockBeforeMinute(${PAUSE_MS})`)) as number;
      await page.getByTestId('schedule-on').check();
      await page.getByTestId('schedule-to').fill(await localHHMM(page, opens + 2 * 3600_000));
      const opensAt = await localHHMM(page, opens);
      await page.getByTestId('schedule-from').fill(opensAt);
      await waitHook(page, "h.governance.pausedBy.includes('schedule')", 3_000);
      const text = await page.getByTestId('effect-schedule').innerText();
      assert.match(text, /^paused: outside your schedule until /);
      assert.ok(text.includes(`:${opensAt.slice(3)}`), `"${text}" does not name the opening minute (${opensAt})`);
      await page.screenshot({ path: `${ARTIFACTS}/paused-schedule.png`, fullPage: true });
      // It opens on the page's own timer: nobody touches the page.
      await waitHook(page, 'h.governance.pausedBy.length === 0', PAUSE_MS + 5_000);
      assert.match(await page.getByTestId('effect-schedule').innerText(), /inside your schedule/);
      const d1 = await nextDuty(page, r0 - 1);
      const idle1 = d1.wallMs - d1.busyMs;
      console.log(`# schedule: round ${d1.round} wall ${d1.wallMs.toFixed(0)} ms, GPU busy ${d1.busyMs.toFixed(0)} ms, idle ${idle1.toFixed(0)} ms`);
      assert.ok(d1.busyMs > 0, 'the worker never trained');
      // A round with nothing paused: the worker's own idle time (its CPU side, the exchange wait).
      const base = await nextDuty(page, d1.round);
      const idle0 = base.wallMs - base.busyMs;
      console.log(`# no pause: round ${base.round} wall ${base.wallMs.toFixed(0)} ms, GPU busy ${base.busyMs.toFixed(0)} ms, idle ${idle0.toFixed(0)} ms`);
      assert.ok(idle1 - idle0 >= PAUSE_MS - 3_000, `outside the schedule the worker idled only ${(idle1 - idle0).toFixed(0)} ms more than unpaused`);

      // Only while charging: unplugging pauses, plugging in resumes.
      await page.getByTestId('charging-only').check();
      await waitHook(page, `h.phase === 'training' && h.round > ${base.round}`, 150_000);
      const r1 = await hook(page, (h) => h.round!);
      await page.evaluate('window.__fake.battery(0.85, false)');
      await waitHook(page, "h.governance.pausedBy.includes('not-charging')", 3_000);
      assert.equal(await page.getByTestId('effect-battery').innerText(), 'paused: on battery');
      await page.waitForTimeout(PAUSE_MS);
      await page.evaluate('window.__fake.battery(0.85, true)');
      await waitHook(page, 'h.governance.pausedBy.length === 0', 3_000);
      const d2 = await nextDuty(page, r1 - 1);
      const idle2 = d2.wallMs - d2.busyMs;
      console.log(`# only while charging: round ${d2.round} wall ${d2.wallMs.toFixed(0)} ms, GPU busy ${d2.busyMs.toFixed(0)} ms, idle ${idle2.toFixed(0)} ms`);
      assert.ok(idle2 - idle0 >= PAUSE_MS - 3_000, `on battery the worker idled only ${(idle2 - idle0).toFixed(0)} ms more than unpaused`);
      assert.ok(d2.busyMs > 0, 'the worker never trained');
      await page.getByTestId('stop').click();
      await waitHook(page, "h.state === 'stopped'", 10_000);

      // Kept per device.
      const before = await governance(page);
      await page.reload();
      await waitHook(page, "h.state === 'ready'", 20_000);
      const after = await governance(page);
      assert.deepEqual(
        { preset: after.preset, chargingOnly: after.chargingOnly, schedule: after.schedule },
        { preset: 'full', chargingOnly: true, schedule: before.schedule },
      );
      assert.equal(after.schedule!.from, Number(opensAt.slice(0, 2)) * 60 + Number(opensAt.slice(3)));
    } finally {
      await context.close();
    }
  },
);
