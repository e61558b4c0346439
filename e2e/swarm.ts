// `npm run swarm -- --volunteers N --rounds R [--preset mlp|gpt] [--url URL] [--json]`
//
// N headless Chromium volunteers (WebGPU on SwiftShader) train against a platform this
// starts itself (or the one at --url) for R rounds, claim their rewards, and the figures
// are read from the running system: the coordinator's ledger API, the pages' own
// counters and the chain's event logs. With --json the last line is one JSON object.
// --preset gpt runs the GPT preset on a generated grammar text (e2e/grammar-corpus.ts, given to
// the platform as IDLEGRAD_TEXT) with settings sized for SwiftShader (GPT_SWARM_RUN).
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { createPublicClient, http, parseAbiItem, type Address } from 'viem';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import type { DashboardState } from '../shared/protocol.ts';
import type { RunSpec } from '../shared/config.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grammarCorpus } from './grammar-corpus.ts';

/** GPT run settings for the swarm: short rounds of small batches (about 1 s a step on SwiftShader). */
export const GPT_SWARM_RUN = {
  preset: 'gpt',
  inner: { steps: 6, batchSize: 4, adamw: { lr: 0.006, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 } },
  outer: { lr: 0.7, momentum: 0.9 },
  timing: { trainMs: 40_000, exchangeMs: 10_000, reportMs: 8_000 },
  // The coordinator re-executes GPT work with the float64 CPU reference (≈ 1 s a step here):
  // check fewer new identities' rounds and score them on fewer held-out windows.
  verification: { newIdentityRate: 0.34, heldOutSamples: 8 },
};

/** Writes a generated grammar text to a temporary file and points the platform at it. */
export function useGeneratedText(bytes = 60_000): string {
  const path = join(mkdtempSync(join(tmpdir(), 'idlegrad-text-')), 'grammar.txt');
  writeFileSync(path, grammarCorpus(bytes, 7));
  process.env.IDLEGRAD_TEXT = path;
  return path;
}

export interface SwarmOptions {
  volunteers: number;
  rounds: number;
  url?: string;
  log?: (line: string) => void;
  /** Run settings for a platform the swarm starts itself. */
  run?: Record<string, unknown>;
}

export interface SwarmResult {
  rounds: number;
  volunteers: number;
  heldOutAccuracy: number;
  /** Held-out loss after each committed round, in order. */
  heldOutLosses: number[];
  modelHashesAgree: boolean;
  modelHash: string;
  p2pBytes: number;
  frameBytesPerPeerPerRound: number;
  denseBytesPerPeerPerRound: number;
  compressionRatio: number;
  rewardEpochs: number;
  claims: number;
  /** Every volunteer's token balance equals the credit the ledger placed in posted epochs. */
  claimsMatchLedger: boolean;
  chainId: number;
  acceptedContributions: number;
  firstRoundContributors: number;
  wallSeconds: number;
  /** Spot checks by outcome, from the coordinator's dashboard (coordinator/validator.ts). */
  verification: Record<string, number>;
  pageErrors: string[];
}

interface Hook {
  address: string | null;
  modelHash: string | null;
  modelRound: number | null;
  p2pBytes: number;
  frameBytesSent: number;
  framesSent: number;
  claims: string[];
  errors: string[];
  state: string;
}

const readHook = (page: Page) => page.evaluate(() => {
  const h = (window as unknown as { __idlegrad?: Hook }).__idlegrad;
  return h ? { address: h.address, modelHash: h.modelHash, modelRound: h.modelRound, p2pBytes: h.p2pBytes, frameBytesSent: h.frameBytesSent, framesSent: h.framesSent, claims: h.claims, errors: h.errors, state: h.state } : null;
});

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`swarm: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Dashboard pushes over the coordinator's WebSocket: the swarm watches like a project lead. */
function watchDashboard(url: string): { latest: () => DashboardState | null; close: () => void } {
  let state: DashboardState | null = null;
  const ws = new WebSocket(url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws');
  ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', topic: 'dashboard' })));
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type === 'dashboard') state = m.state;
  });
  return { latest: () => state, close: () => ws.close() };
}

export async function runSwarm(opts: SwarmOptions): Promise<SwarmResult> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  let platform: PlatformProcess | null = null;
  let browser: Browser | null = null;
  let dash: ReturnType<typeof watchDashboard> | null = null;
  try {
    if (!opts.url) {
      log(`starting the platform (run: ${opts.volunteers} volunteers, ${opts.rounds} rounds)…`);
      platform = await startPlatformProcess({ minVolunteers: opts.volunteers, maxRounds: opts.rounds, ...opts.run }, { quiet: true });
    }
    const url = opts.url ?? platform!.url;
    const info = (await (await fetch(new URL('api/run', url))).json()) as { run: RunSpec; round: number; chain: { chainId: number; distributor: Address } };
    const startRound = info.round;
    const targetRound = startRound + opts.rounds;
    dash = watchDashboard(url);

    const chromium = await launchChromium();
    browser = chromium;
    const pages: Page[] = [];
    const pageErrors: string[] = [];
    for (let i = 0; i < opts.volunteers; i++) {
      const context = await chromium.newContext(); // own storage: own IndexedDB, own device key
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(`volunteer ${i}: ${e.message}`));
      await page.goto(url);
      await page.getByTestId('consent').click();
      await page.getByTestId('start').click();
      pages.push(page);
      log(`volunteer ${i} consented and started`);
    }

    let lastLogged = -1;
    const done = await until(`${opts.rounds} committed rounds`, opts.rounds * 240_000, async () => {
      const s = dash!.latest();
      const committed = s ? s.rounds.filter((r) => r.round >= startRound) : [];
      const last = committed.at(-1);
      if (last && last.round !== lastLogged) {
        lastLogged = last.round;
        log(`round ${last.round} committed: ${last.contributions} contributions, held-out accuracy ${(last.heldOutAccuracy * 100).toFixed(1)}%, loss ${last.heldOutLoss.toFixed(3)}`);
      }
      return committed.length >= opts.rounds && s;
    });
    if (opts.url) for (const p of pages) await p.getByTestId('stop').click();
    const finalRound = done.rounds.filter((r) => r.round >= startRound).slice(0, opts.rounds).at(-1)!;
    const finalHash = finalRound.modelHash;

    // Rewards: epochs the coordinator posted while these rounds ran, then every page claims.
    const epochRounds = info.run.rewards.epochRounds;
    const expectedEpochs = Math.floor(targetRound / epochRounds) - Math.floor(startRound / epochRounds);
    await until(`${expectedEpochs} reward epochs`, 60_000, async () => (dash!.latest()?.epochs.length ?? 0) >= expectedEpochs, 250).catch((e) => log(String(e)));
    for (const [i, page] of pages.entries()) {
      const claim = page.getByTestId('claim');
      await until(`volunteer ${i}'s claimable reward`, 60_000, () => claim.isEnabled());
      await claim.click();
    }
    await until('every claim transaction', 120_000, async () => {
      const hooks = await Promise.all(pages.map(readHook));
      return hooks.every((h) => h && h.claims.length > 0);
    }).catch((e) => log(String(e)));

    // Every page must reach the coordinator's latest model hash by applying published
    // updates (with --url the pages were stopped, so the run settles on a last round).
    let agreedHash: string = finalHash;
    await until('pages to apply the last update', 60_000, async () => {
      const [hooks, head] = await Promise.all([Promise.all(pages.map(readHook)), (await fetch(new URL('api/run', url))).json() as Promise<{ modelHash: string }>]);
      agreedHash = head.modelHash;
      return hooks.every((h) => h?.modelHash === agreedHash);
    }).catch((e) => log(String(e)));
    const hooks = (await Promise.all(pages.map(readHook))).map((h) => h!);

    const client = createPublicClient({ transport: http(new URL('rpc', url).toString()) });
    const distributor = info.chain.distributor;
    const [claimLogs, epochLogs] = await Promise.all([
      client.getLogs({ address: distributor, event: parseAbiItem('event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount)'), fromBlock: 0n }),
      client.getLogs({ address: distributor, event: parseAbiItem('event EpochPosted(uint64 indexed epoch, bytes32 root, bytes32 modelHash)'), fromBlock: 0n }),
    ]);
    const swarmAccounts = new Set(hooks.map((h) => h.address?.toLowerCase()));
    const ours = claimLogs.filter((l) => swarmAccounts.has((l.args.account as string).toLowerCase()));

    // Each volunteer received exactly what the ledger credited it in the posted epochs.
    const tokenAbi = [parseAbiItem('function balanceOf(address) view returns (uint256)')];
    const token = (info.chain as unknown as { token: Address }).token;
    let claimsMatchLedger = true;
    for (const h of hooks) {
      const account = h.address as Address;
      const ledger = (await (await fetch(new URL(`api/accounts/${account}`, url))).json()) as { epochCreditWei: string };
      const balance = await client.readContract({ address: token, abi: tokenAbi, functionName: 'balanceOf', args: [account] });
      if (balance !== BigInt(ledger.epochCreditWei)) {
        claimsMatchLedger = false;
        log(`${account}: holds ${balance} token wei, the ledger credited ${ledger.epochCreditWei}`);
      }
    }

    const committed = done.rounds.filter((r) => r.round >= startRound).slice(0, opts.rounds);
    const framesSent = hooks.reduce((s, h) => s + h.framesSent, 0);
    const frameBytes = hooks.reduce((s, h) => s + h.frameBytesSent, 0);
    const dense = info.run.paramCount * 4;
    const result: SwarmResult = {
      rounds: committed.length,
      volunteers: opts.volunteers,
      heldOutAccuracy: finalRound.heldOutAccuracy,
      heldOutLosses: committed.map((r) => r.heldOutLoss),
      modelHashesAgree: hooks.every((h) => h.modelHash === agreedHash),
      modelHash: agreedHash,
      p2pBytes: hooks.reduce((s, h) => s + h.p2pBytes, 0),
      frameBytesPerPeerPerRound: framesSent ? Math.round(frameBytes / framesSent) : 0,
      denseBytesPerPeerPerRound: dense,
      compressionRatio: frameBytes ? Number((dense / (frameBytes / framesSent)).toFixed(1)) : 0,
      rewardEpochs: epochLogs.length,
      claims: ours.length,
      claimsMatchLedger,
      chainId: info.chain.chainId,
      acceptedContributions: committed.reduce((s, r) => s + r.contributions, 0),
      firstRoundContributors: committed[0]?.contributions ?? 0,
      wallSeconds: Math.round((Date.now() - t0) / 1000),
      verification: ((await (await fetch(new URL('api/dashboard', url))).json()) as DashboardState).verification ?? {},
      pageErrors: [...pageErrors, ...hooks.flatMap((h, i) => h.errors.map((e) => `volunteer ${i}: ${e}`))],
    };
    return result;
  } finally {
    dash?.close();
    await browser?.close().catch(() => {});
    await platform?.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      volunteers: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '8' },
      url: { type: 'string' },
      preset: { type: 'string', default: 'mlp' },
      json: { type: 'boolean', default: false },
    },
  });
  const volunteers = Number(values.volunteers);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(volunteers) || volunteers < 1 || volunteers > 64) throw new Error(`--volunteers: expected an integer in [1, 64], got ${values.volunteers}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: expected a positive integer, got ${values.rounds}`);
  if (values.preset !== 'mlp' && values.preset !== 'gpt') throw new Error(`--preset: expected mlp or gpt, got ${values.preset}`);
  if (values.preset === 'gpt' && !values.url) console.log(`GPT on generated text ${useGeneratedText()}`);
  const run = values.preset === 'gpt' ? GPT_SWARM_RUN : undefined;
  const r = await runSwarm({ volunteers, rounds, url: values.url, run, log: (l) => console.log(l) });
  console.log(`
swarm summary
  rounds committed         ${r.rounds} (${r.acceptedContributions} accepted contributions; ${r.firstRoundContributors} in the first round)
  held-out accuracy        ${(r.heldOutAccuracy * 100).toFixed(2)}%
  held-out loss by round   ${r.heldOutLosses.map((l) => l.toFixed(3)).join(' → ')}
  model hashes agree       ${r.modelHashesAgree} (${r.modelHash.slice(0, 18)}…)
  WebRTC bytes received    ${r.p2pBytes}
  frame bytes/peer/round   ${r.frameBytesPerPeerPerRound} vs dense ${r.denseBytesPerPeerPerRound} (${r.compressionRatio}×)
  reward epochs on chain   ${r.rewardEpochs}
  claims on chain          ${r.claims} (chain ${r.chainId}); balances equal ledger credit: ${r.claimsMatchLedger}
  spot checks              ${Object.entries(r.verification).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}
  wall time                ${r.wallSeconds} s
  page errors              ${r.pageErrors.length ? '\n    ' + r.pageErrors.join('\n    ') : 'none'}`);
  if (values.json) console.log(JSON.stringify(r));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
