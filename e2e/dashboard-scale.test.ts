// The dashboard with a run of 1,000 past rounds (served by a mock coordinator: the built
// page, a synthetic /api/dashboard and a routed WebSocket): every chart is thinned to a few
// hundred points, and the time from a pushed update to the page showing it is printed
// (a figure, not a pass/fail threshold).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { WebSocketRoute } from 'playwright-core';
import type { Hex, Address } from 'viem';
import { launchChromium } from './chromium.ts';
import { ensureWebBuild } from './platform-process.ts';
import type { DashboardState, RoundSummary } from '../shared/wire/index.ts';

const hex = (n: number, len = 64) => `0x${n.toString(16).padStart(len, '0')}`;

function syntheticState(rounds: number): DashboardState {
  const rs: RoundSummary[] = Array.from({ length: rounds }, (_, r) => ({
    round: r,
    modelHash: hex(r + 1) as Hex,
    committedAt: 1_700_000_000_000 + r * 30_000 + (r % 7) * 900,
    heldOutAccuracy: 0.9 * (1 - Math.exp(-r / 150)) + 0.02 * Math.sin(r),
    heldOutLoss: 2.3 * Math.exp(-r / 200) + 0.2,
    trainLoss: r % 13 === 0 ? null : 2.2 * Math.exp(-r / 180) + 0.15,
    contributions: 20 + (r % 9),
    samples: 64_000 + (r % 11) * 3200,
    volunteers: 24 + (r % 5),
    updateBytes: 1400 + (r % 17) * 10,
  }));
  return {
    run: { id: 1, name: 'scale', round: rounds, modelHash: hex(rounds) as Hex, paramCount: 50_890, status: 'active' },
    volunteers: 27,
    rounds: rs,
    epochs: Array.from({ length: Math.floor(rounds / 3) }, (_, e) => ({
      epoch: e + 1,
      root: hex(e) as Hex,
      txHash: hex(e + 7) as Hex,
      totalWei: '1000000000000000000',
      accounts: 24,
      round: e * 3 + 2,
    })),
    chain: { chainId: 31337, distributor: hex(1, 40) as Address, token: hex(2, 40) as Address, rpcUrl: '/rpc' },
    insights: {
      denseBytes: 50_890 * 4,
      flopsPerSample: 6 * (784 * 64 + 64 * 10),
      outcomes: rs.map((r) => ({
        round: r.round,
        reports: r.contributions + 2,
        accepted: r.contributions,
        rejected: 2,
        verified: 1,
        failed: r.round % 50 === 0 ? 1 : 0,
        sampled: 0,
        cohorts: 4,
        stragglers: Math.max(0, r.volunteers - r.contributions - 2),
        codes: ['NO_QUORUM'],
      })),
      leaderboard: Array.from({ length: 20 }, (_, i) => ({
        account: hex(i + 100, 40) as Address,
        contributions: 900 - i,
        samples: 2_000_000 - i * 1000,
        creditWei: `${(20 - i) * 1e15}`,
      })),
    },
  };
}

test('a run of 1,000 rounds: charts are thinned, updates render (time printed)', { timeout: 3 * 60_000 }, async () => {
  ensureWebBuild();
  mkdirSync('e2e/test-results', { recursive: true });
  let state = syntheticState(1000);
  const app = express();
  app.get('/api/dashboard', (_req, res) => void res.json(state));
  app.use(express.static('dist/web'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1600 } });
    const routed: { ws: WebSocketRoute | null } = { ws: null };
    await page.routeWebSocket(/\/ws$/, (ws) => {
      ws.onMessage((m) => {
        if (JSON.parse(String(m)).type === 'subscribe') {
          routed.ws = ws;
          ws.send(JSON.stringify({ type: 'dashboard', state }));
        }
      });
      ws.send(JSON.stringify({ type: 'challenge', challenge: '00', serverTime: Date.now(), session: { run: 1, chainId: 31337, distributor: hex(1, 40) } }));
    });
    await page.addInitScript(() => {
      const shown: Record<string, number> = {};
      (window as unknown as { __shown: Record<string, number> }).__shown = shown;
      new MutationObserver(() => {
        const t = document.querySelector('[data-testid="dash-round"]')?.textContent ?? '';
        if (/^\d+$/.test(t) && !(t in shown)) shown[t] = Date.now();
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    const t0 = Date.now();
    await page.goto(`${base}dashboard.html`);
    await page.waitForFunction(() => '1000' in (window as unknown as { __shown: Record<string, number> }).__shown, null, { timeout: 30_000 });
    const firstPaint = (await page.evaluate(() => (window as unknown as { __shown: Record<string, number> }).__shown['1000'])) - t0;
    for (const id of ['chart-quality', 'chart-throughput', 'chart-volunteers', 'chart-bytes']) {
      const points = Number(await page.getByTestId(id).getAttribute('data-points'));
      assert.ok(points >= 100 && points <= 600, `${id}: ${points} points drawn for 1,000 rounds`);
    }
    assert.ok(routed.ws, 'the page subscribed over the WebSocket');

    // Ten pushes, one round each: time from send to the page showing the new round.
    const lags: number[] = [];
    for (let r = 1001; r <= 1010; r++) {
      state = syntheticState(r);
      const sent = Date.now();
      routed.ws!.send(JSON.stringify({ type: 'dashboard', state }));
      await page.waitForFunction((k) => String(k) in (window as unknown as { __shown: Record<string, number> }).__shown, r, { timeout: 10_000 });
      lags.push((await page.evaluate((k) => (window as unknown as { __shown: Record<string, number> }).__shown[String(k)], r)) - sent);
    }
    lags.sort((a, b) => a - b);
    console.log(`1,000-round dashboard: first render ${firstPaint} ms after navigation; push → shown median ${lags[5]} ms, max ${lags[9]} ms (10 pushes)`);
    await page.screenshot({ path: 'e2e/test-results/dashboard-1000-rounds.png', fullPage: true });
  } finally {
    await browser.close();
    server.close();
  }
});
