// `npm run swarm -- --volunteers N --rounds R [--preset mlp|gpt-micro|gpt-small|gpt-base] [--url URL] [--json]
//                  [--byzantine K --attack sign-flip|noise|lazy] [--churn P] [--kill-coordinator-at ROUND] [--offline P] [--nat]
//                  [--global-update exact|compressed] [--inner-state round|kept] [--sample-all]`
//
// N headless Chromium volunteers (WebGPU on SwiftShader) train against a platform this
// starts itself (or the one at --url) for R rounds, claim their rewards, and the figures
// are read from the running system: the coordinator's ledger API, the pages' own
// counters and the chain's event logs. With --json the last line is one JSON object.
// --preset gpt-micro (or its older name gpt), gpt-small, gpt-base runs that GPT on a generated
// grammar text (e2e/grammar-corpus.ts, given to the platform as IDLEGRAD_TEXT) with settings sized
// for SwiftShader (GPT_SWARM_RUNS).
//
// Chaos (e2e/chaos.ts): K pages attack (a script injected before the app loads turns on the
// test-only attack in web/src/client/attack.ts; they sign and answer spot checks like any
// page); at each commit ⌈P·honest⌉ pages are closed and replaced, alternately between rounds
// and mid-round; pages lose the network mid-round; and the platform's process group is
// SIGKILLed when a round commits and restarted on the same data directory, port and chain
// (anvil then runs outside it, started here), and the ledger is checked for lost credit.
//
// --nat (e2e/nat-lab.ts, root on Linux): each volunteer's Chromium runs in its own network
// namespace behind a NAT (every third a symmetric one), the platform listens on the lab's public
// segment with STUN and TURN (coturn, the lab's REST secret) configured, and the result adds
// `iceCandidateTypes` (the selected pairs' candidate types) and `nat` (the links that connected).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { createPublicClient, http, parseAbiItem, type Address } from 'viem';
import { launchChromium } from './chromium.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import {
  accountSummary,
  attackerLedger,
  chaosOptionsOf,
  creditedRows,
  lostRows,
  NO_CHAOS,
  pagesFor,
  voteRounds,
  type AttackerLedger,
  type ChaosOptions,
  type VoteRound,
} from './chaos.ts';
import { DEV_DEPLOYER_KEY, startAnvil, type Anvil } from '../coordinator/chain/index.ts';
import { parseServerMessage, type DashboardState, type FlaggedSummary, type ValidatorStatus } from '../shared/wire/index.ts';
import { grammarCorpus } from './grammar-corpus.ts';
import { cliOutput, numberOption, parseCli, runCli, UsageError, type CliOption, type CliSpec } from '../shared/cli.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { startNatSwarm, type NatSwarm, type NatSwarmFigures } from './nat-lab.ts';
import { blockWebRtc, installByteMeter, type PageBytes } from './byte-meter.ts';

/** GPT run settings for the swarm: short rounds of small batches (about 1 s a step on SwiftShader). */
export const GPT_SWARM_RUN = {
  preset: 'gpt',
  inner: { steps: 6, batchSize: 4, adamw: { lr: 0.006, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 } },
  outer: { lr: 0.7, momentum: 0.9 },
  // A 10 s exchange again (it was 25 s to hide lost rounds: a frame that reached one member of a
  // 3-member cohort after its exchange deadline and another before it split the aggregates).
  // The agreement step (web/src/client/round/agreement.ts) closes that in the protocol: the
  // uploader announces the frames that are in, late frames come through the relay.
  timing: { trainMs: 40_000, exchangeMs: 10_000, reportMs: 8_000 },
  // The coordinator re-executes GPT work with the float64 CPU reference (≈ 1 s a step here):
  // check fewer new identities' rounds and score them on fewer held-out windows.
  verification: { newIdentityRate: 0.34, heldOutSamples: 8 },
};

/**
 * Swarm settings of each GPT preset, sized for SwiftShader: gpt-small's step takes about 40 s a
 * sequence there alone (README bench: 0.026 sequences/s), so its rounds are 2 steps of one
 * sequence with minutes to train; gpt-base's one. Outer step plain averaging (gain 1, DESIGN.md
 * "Training defaults"); the preset's own codec (2 % at 4 bits).
 *
 * Inner lr 0.001, a third of the 0.003 of the first four gpt-small swarms (README "Presets by
 * size"). A page's AdamW restarts every round, so its 2 steps on one sequence are sign-like: every
 * parameter moves about ±lr whatever its gradient's size, and the round's update is that of one
 * 256-byte sequence. Along such a step the held-out loss changes by −lr·(gradient · direction)
 * + lr²·(curvature along it): at 0.003 the second term won in round 2 of the fourth swarm (loss
 * 3.439 → 3.652 while accuracy rose 27.9 → 31.0 %: the directions every page pushes, overshot);
 * a smaller step keeps the first term ahead. The codec's top-k and 4-bit scale are
 * scale-free, so this is the same as a smaller step and costs no bytes or time; each round gains
 * less while the loss is high. Checked on the CPU reference at the swarm's shape
 * (e2e/gpt-small-screen.ts).
 */
const GPT_SMALL_SWARM_RUN = {
  preset: 'gpt-small',
  inner: { steps: 2, batchSize: 1, adamw: { lr: 0.001, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 } },
  outer: { lr: 1, momentum: 0 },
  timing: { trainMs: 300_000, exchangeMs: 30_000, reportMs: 20_000 },
  verification: { newIdentityRate: 0.34, heldOutSamples: 2 },
};

const BIG_PRESETS = ['gpt-small', 'gpt-base'];

export const GPT_SWARM_RUNS: Readonly<Record<'gpt' | 'gpt-micro' | 'gpt-small' | 'gpt-base', Record<string, unknown>>> = {
  gpt: GPT_SWARM_RUN,
  'gpt-micro': { ...GPT_SWARM_RUN, preset: 'gpt-micro' },
  'gpt-small': GPT_SMALL_SWARM_RUN,
  'gpt-base': {
    ...GPT_SMALL_SWARM_RUN,
    preset: 'gpt-base',
    inner: { ...GPT_SMALL_SWARM_RUN.inner, steps: 1 },
    timing: { trainMs: 480_000, exchangeMs: 60_000, reportMs: 30_000 },
  },
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
  /** Attackers, churn, a coordinator kill, pages going offline (e2e/chaos.ts). Default: none. */
  chaos?: Partial<ChaosOptions>;
  /** Write the coordinator's output (every platform process, restarts included) to this file when the swarm ends. */
  platformLog?: string;
  /** Volunteers behind NATs in the NAT lab, with TURN (e2e/nat-lab.ts). */
  nat?: boolean;
  /**
   * Volunteers (by index) whose WebRTC never connects (e2e/byte-meter.ts blockWebRtc): every
   * link to or from them fails, as behind a NAT no candidate crosses; their frames must take the
   * coordinator's relay. Every index: a swarm with no WebRTC at all.
   */
  noWebRtc?: number[];
}

export interface SwarmChaos {
  attack: string | null;
  /** Each attacking identity as the ledger sees it: credit must be 0, every contribution refused. */
  attackers: AttackerLedger[];
  /** Σ credit the ledger holds for the attackers (wei) and the tokens they hold on chain. */
  attackerCreditWei: string;
  attackerTokenWei: string;
  /** Refused contributions by reason, and the identities flagged for their conduct (the dashboard's list). */
  flagged: FlaggedSummary | null;
  pagesClosed: number;
  pagesOpened: number;
  pagesWentOffline: number;
  coordinatorRestarts: number;
  killedAtRound: number | null;
  roundsCommittedAfterKill: number;
  /** Settled credited contributions (no spot check pending) before the kill, and those of them not credited after it. */
  creditedBeforeKill: number;
  lostAfterKill: string[];
  /** Credited contributions whose spot check was pending at the kill, and those of them refused afterwards (with the check's reason, e.g. a closed page's withheld evidence). */
  awaitingCheckAtKill: number;
  refusedAfterKill: string[];
  /** The attackers' contributions in rounds their cohort's leave-one-out vote decided (chaos.ts voteRounds). */
  voteRounds: VoteRound[];
}

export interface SwarmResult {
  rounds: number;
  volunteers: number;
  heldOutAccuracy: number;
  /** Held-out loss after the last committed round (nats; nats per byte for a GPT run), from the coordinator's committed summary as heldOutAccuracy. */
  heldOutLoss: number;
  /** Held-out loss after each committed round, in order. */
  heldOutLossByRound: number[];
  /** The run's parameter count, from the coordinator's run spec. */
  paramCount: number;
  /** Every live honest page and the coordinator hold the same model hash. */
  modelHashesAgree: boolean;
  modelHash: string;
  p2pBytes: number;
  frameBytesPerPeerPerRound: number;
  denseBytesPerPeerPerRound: number;
  compressionRatio: number;
  /**
   * Measured at each page's transports (e2e/byte-meter.ts: WebSocket, HTTP, data channels) from the
   * first committed round to the last, per live page present at both, per round between them.
   */
  upBytesPerPeerPerRound: number;
  downBytesPerPeerPerRound: number;
  /** Global updates and snapshots a page downloaded per round, response headers included (part of downBytesPerPeerPerRound). */
  updateBytesPerPeerPerRound: number;
  /** Their bodies alone. */
  updateBodyBytesPerPeerPerRound: number;
  /** upBytesPerPeerPerRound by transport: WebSocket messages, HTTP request bodies, data-channel messages. */
  upBytesByTransport: { ws: number; http: number; dc: number };
  /** downBytesPerPeerPerRound by transport: WebSocket messages, HTTP responses (headers and bodies), data-channel messages. */
  downBytesByTransport: { ws: number; http: number; dc: number };
  /** Spot-check evidence a page uploaded per round (part of upBytesPerPeerPerRound; the validator's sampling rate sets it). */
  evidenceBytesPerPeerPerRound: number;
  /** Mean members per cohort, over every (round, cohort) the pages were seated in. */
  cohortSize: number;
  /** Frames pages received through the coordinator's relay (all pages, all rounds). */
  relayedFrames: number;
  /** WebRTC dials a page made per round (data channels it opened, counted in the page), and RTCPeerConnections (dialled or answered: ICE and DTLS handshakes) per page per round. */
  dialsPerPeerPerRound: number;
  peerConnectionsPerPeerPerRound: number;
  /** RTCPeerConnections a page made over its whole life, round 0 included (so a counter that never counts shows here as 0). */
  peerConnectionsPerPeer: number;
  /** Committed rounds with no accepted contribution. */
  lostRounds: number;
  rewardEpochs: number;
  claims: number;
  /** Every live honest volunteer's token balance equals the credit the ledger placed in posted epochs. */
  claimsMatchLedger: boolean;
  chainId: number;
  acceptedContributions: number;
  firstRoundContributors: number;
  wallSeconds: number;
  /** Spot checks by outcome, from the coordinator's dashboard (coordinator/verify/validator.ts). */
  verification: Record<string, number>;
  /** What re-executed the spot checks, how many, how long they took and the backlog (coordinator/verify/validator.ts). */
  validator: ValidatorStatus | null;
  pageErrors: string[];
  chaos: SwarmChaos;
  /** With --nat (e2e/nat-lab.ts): the selected candidate pairs' types, the lab's NATs and the links that connected. */
  iceCandidateTypes?: NatSwarmFigures['iceCandidateTypes'];
  nat?: NatSwarmFigures['nat'];
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

// tsx compiles named functions and classes with esbuild's __name helper, which the page lacks.
const byteMeterScript = `var __name = (f) => f; (${installByteMeter.toString()})();`;
const blockWebRtcScript = `var __name = (f) => f; (${blockWebRtc.toString()})();`;
const readBytes = (page: Page) => page.evaluate(() => (window as unknown as { __idlegradBytes?: PageBytes }).__idlegradBytes ?? null);

/**
 * Per page per round, from two readings of the pages' byte meters `rounds` rounds apart (only
 * pages read both times and not attackers' — the caller passes what it read), and the mean
 * cohort size and relayed frames over everything the pages saw.
 */
export function pageTraffic(
  first: Map<{ attacker: boolean }, PageBytes | null>,
  last: Map<{ attacker: boolean }, PageBytes | null>,
  rounds: number,
): Pick<
  SwarmResult,
  | 'upBytesPerPeerPerRound'
  | 'downBytesPerPeerPerRound'
  | 'updateBytesPerPeerPerRound'
  | 'updateBodyBytesPerPeerPerRound'
  | 'upBytesByTransport'
  | 'downBytesByTransport'
  | 'evidenceBytesPerPeerPerRound'
  | 'cohortSize'
  | 'relayedFrames'
  | 'dialsPerPeerPerRound'
  | 'peerConnectionsPerPeerPerRound'
  | 'peerConnectionsPerPeer'
> {
  let pages = 0;
  const sum = { up: 0, down: 0, update: 0, updateBody: 0, evidence: 0, dials: 0, peerConnections: 0, peerConnectionsEver: 0 };
  const up = { ws: 0, http: 0, dc: 0 };
  const down = { ws: 0, http: 0, dc: 0 };
  const seats = new Map<string, number>();
  let relayedFrames = 0;
  for (const [v, b] of last) {
    if (!b) continue;
    for (const s of b.cohorts) seats.set(`${s.round}/${s.cohort}`, s.members);
    relayedFrames += b.relayedFrames;
    const a = first.get(v);
    if (!a || v.attacker) continue;
    pages++;
    up.ws += b.wsOut - a.wsOut;
    up.http += b.httpOut - a.httpOut;
    up.dc += b.dcOut - a.dcOut;
    down.ws += b.wsIn - a.wsIn;
    down.http += b.httpIn - a.httpIn;
    down.dc += b.dcIn - a.dcIn;
    sum.update += b.updateIn - a.updateIn;
    sum.updateBody += b.updateBodyIn - a.updateBodyIn;
    sum.evidence += b.evidenceOut - a.evidenceOut;
    sum.dials += b.dials - a.dials;
    sum.peerConnections += b.peerConnections - a.peerConnections;
    sum.peerConnectionsEver += b.peerConnections;
  }
  const per = (x: number) => (pages && rounds > 0 ? Math.round(x / pages / rounds) : 0);
  const perFine = (x: number) => (pages && rounds > 0 ? Number((x / pages / rounds).toFixed(2)) : 0);
  const sizes = [...seats.values()];
  sum.up = up.ws + up.http + up.dc;
  sum.down = down.ws + down.http + down.dc;
  const perTransport = (t: typeof up) => ({ ws: per(t.ws), http: per(t.http), dc: per(t.dc) });
  return {
    upBytesPerPeerPerRound: per(sum.up),
    downBytesPerPeerPerRound: per(sum.down),
    updateBytesPerPeerPerRound: per(sum.update),
    updateBodyBytesPerPeerPerRound: per(sum.updateBody),
    upBytesByTransport: perTransport(up),
    downBytesByTransport: perTransport(down),
    evidenceBytesPerPeerPerRound: per(sum.evidence),
    cohortSize: sizes.length ? Number((sizes.reduce((s, x) => s + x, 0) / sizes.length).toFixed(2)) : 0,
    relayedFrames,
    dialsPerPeerPerRound: perFine(sum.dials),
    peerConnectionsPerPeerPerRound: perFine(sum.peerConnections),
    peerConnectionsPerPeer: pages ? Number((sum.peerConnectionsEver / pages).toFixed(2)) : 0,
  };
}

const readHook = (page: Page) =>
  page.evaluate(() => {
    const h = (window as unknown as { __idlegrad?: Hook }).__idlegrad;
    return h
      ? {
          address: h.address,
          modelHash: h.modelHash,
          modelRound: h.modelRound,
          p2pBytes: h.p2pBytes,
          frameBytesSent: h.frameBytesSent,
          framesSent: h.framesSent,
          claims: h.claims,
          errors: h.errors,
          state: h.state,
        }
      : null;
  });

/** Each page's own log (its last 200 entries), for finding out afterwards what a page did; a closed page says so. */
async function writePageLogs(file: string, pages: { index: number; page: Page }[]): Promise<void> {
  const parts = await Promise.all(
    pages.map(async ({ index, page }) => {
      const entries = await page
        .evaluate(() => (window as unknown as { __idlegrad?: { log: { at: number; level: string; text: string }[] } }).__idlegrad?.log ?? [])
        .catch((e: Error) => [{ at: Date.now(), level: 'harness', text: `could not read the page's log: ${e.message.split('\n')[0]}` }]);
      return entries.map((l) => `volunteer ${index} ${new Date(l.at).toISOString()} ${l.level} ${l.text}`).join('\n');
    }),
  );
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, parts.join('\n') + '\n');
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`swarm: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Dashboard pushes over the coordinator's WebSocket: the swarm watches like a project lead (and reconnects after a restart). */
async function validatorStatus(url: string): Promise<ValidatorStatus | null> {
  try {
    return (await new CoordinatorApi(url).dashboard()).validator ?? null;
  } catch {
    return null; // a restarting coordinator
  }
}

function watchDashboard(url: string): { latest: () => DashboardState | null; close: () => void } {
  let state: DashboardState | null = null;
  let closed = false;
  let ws: WebSocket;
  const open = () => {
    ws = new WebSocket(url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', topic: 'dashboard' })));
    ws.on('message', (d) => {
      const m = parseServerMessage(JSON.parse(d.toString()));
      if (m.type === 'dashboard') state = m.state;
    });
    ws.on('error', () => {});
    ws.on('close', () => void (closed || setTimeout(open, 500)));
  };
  open();
  return { latest: () => state, close: () => ((closed = true), ws.close()) };
}

interface Volunteer {
  index: number;
  page: Page;
  attacker: boolean;
  live: boolean;
  address: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSwarm(opts: SwarmOptions): Promise<SwarmResult> {
  const t0 = Date.now();
  // Each line with the seconds since the swarm began, so a log shows where its time went.
  const log = (line: string) => opts.log?.(`${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${line}`);
  const chaos: ChaosOptions = { ...NO_CHAOS, ...opts.chaos };
  if (opts.url && chaos.killCoordinatorAt !== null) throw new Error('swarm: --kill-coordinator-at needs the platform the swarm starts itself (no --url)');
  let platform: PlatformProcess | null = null;
  let anvil: Anvil | null = null;
  let dataDir: string | null = null;
  let browser: Browser | null = null;
  let dash: ReturnType<typeof watchDashboard> | null = null;
  let nat: NatSwarm | null = null;
  const platformOutputs: string[] = [];
  // Every page opened, for its own log (written beside the platform's, when one is kept).
  const opened: { index: number; page: Page }[] = [];
  // Written when the swarm ends, and also when a signal or a timeout ends the harness first
  // (process.exit runs 'exit' listeners, not `finally`): where a round's time went is in it.
  const writePlatformLog = () => {
    if (!opts.platformLog) return;
    mkdirSync(dirname(opts.platformLog), { recursive: true });
    writeFileSync(opts.platformLog, [...platformOutputs, ...(platform ? [platform.output()] : [])].join('\n---- restarted ----\n'));
  };
  process.once('exit', writePlatformLog);
  try {
    const runSettings = { minVolunteers: opts.volunteers, maxRounds: opts.rounds, ...opts.run };
    let platformEnv: NodeJS.ProcessEnv | undefined;
    if (opts.nat && opts.url) throw new Error('swarm: --nat needs the platform the swarm starts itself (no --url)');
    if (opts.nat) nat = await startNatSwarm(opts.volunteers);
    if (!opts.url) {
      log(`starting the platform (run: ${opts.volunteers} volunteers, ${opts.rounds} rounds)…`);
      if (chaos.killCoordinatorAt !== null) {
        // The chain must outlive the coordinator: the swarm runs anvil itself, saving its state.
        dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-chaos-'));
        anvil = await startAnvil({ dataDir: join(dataDir, 'external-chain'), stateIntervalS: 1 });
        // A dev chain the swarm owns: the claim-gas faucet stays on as on the embedded chain (with
        // RPC_URL it is off by default, and the pages' keys would have no gas to claim with).
        platformEnv = { RPC_URL: anvil.rpcUrl, DEPLOYER_KEY: DEV_DEPLOYER_KEY, IDLEGRAD_FAUCET: 'on' };
      }
      platform = await startPlatformProcess(runSettings, {
        quiet: true,
        // gpt-small and gpt-base: θ and momentum (42–98 MiB each) are made, hashed and written to the ledger before it listens.
        startupTimeoutMs: BIG_PRESETS.includes(String(opts.run?.preset)) ? 600_000 : undefined,
        dataDir: dataDir ?? undefined,
        env: { ...platformEnv, ...nat?.env },
        processGroup: chaos.killCoordinatorAt !== null,
      });
    }
    const url = opts.url ?? platform!.url;
    const info = await new CoordinatorApi(url).run();
    const startRound = info.round;
    const targetRound = startRound + opts.rounds;
    dash = watchDashboard(url);

    const chromium = nat ? null : await launchChromium();
    browser = chromium;
    const volunteers: Volunteer[] = [];
    const pageErrors: string[] = [];
    const counts = { closed: 0, opened: 0, offline: 0, restarts: 0 };
    const openVolunteer = async (attacker: boolean): Promise<Volunteer> => {
      const index = volunteers.length;
      const context = nat ? await nat.newContext(index, url) : await chromium!.newContext(); // own storage: own IndexedDB, own device key
      if (attacker) await context.addInitScript(`window.__idlegradAttack = ${JSON.stringify(chaos.attack)};`);
      await context.addInitScript({ content: byteMeterScript });
      if (opts.noWebRtc?.includes(index)) await context.addInitScript({ content: blockWebRtcScript });
      const page = await context.newPage();
      opened.push({ index, page });
      await nat?.watch(page, index);
      page.on('pageerror', (e) => pageErrors.push(`volunteer ${index}: ${e.message}`));
      await page.goto(url);
      await page.getByTestId('consent').click();
      await page.getByTestId('start').click();
      // Known up front, so the ledger can be read at a kill without asking pages that are still loading.
      const address = await until(`volunteer ${index}'s device key`, 30_000, async () => (await readHook(page))?.address, 100);
      const v: Volunteer = { index, page, attacker, live: true, address };
      volunteers.push(v);
      log(`volunteer ${index}${attacker ? ` (attacker: ${chaos.attack})` : ''} consented and started`);
      return v;
    };
    const closeVolunteer = async (v: Volunteer, when: string) => {
      v.live = false;
      await v.page.context().close();
      counts.closed++;
      log(`volunteer ${v.index} closed ${when}`);
    };
    const honestLive = () => volunteers.filter((v) => v.live && !v.attacker);
    const pick = (n: number) =>
      honestLive()
        .sort(() => Math.random() - 0.5)
        .slice(0, n);
    for (let i = 0; i < opts.volunteers; i++) await openVolunteer(i < chaos.byzantine);

    // Chaos at each commit: alternately mid-round (once the next round has opened and its
    // pages train; first) and between rounds (now), and a coordinator kill at its round.
    let creditedBefore: Awaited<ReturnType<typeof creditedRows>> = { settled: new Set(), awaitingCheck: new Set() };
    let killedAt: number | null = null;
    let lastProgressAt = Date.now();
    let lastSeen = -1;
    let churnEvents = 0;
    const midRoundMs = Math.min(1_500, (info.run.timing.trainMs * 2) / 3);
    const afterCommit = async (round: number) => {
      const midRound = round % 2 === 0;
      if (midRound && (chaos.churn > 0 || chaos.offline > 0)) await sleep(midRoundMs);
      const when = midRound ? `mid-round ${round + 1}` : `between rounds ${round} and ${round + 1}`;
      const churnNow = chaos.churnEvents === null || churnEvents++ < chaos.churnEvents;
      if (churnNow) for (const v of pick(pagesFor(chaos.churn, honestLive().length))) await closeVolunteer(v, when);
      const toOpen = opts.volunteers - volunteers.filter((v) => v.live).length;
      for (let i = 0; i < toOpen; i++) (await openVolunteer(false), counts.opened++);
      if (chaos.offline > 0 && midRound) {
        const off = pick(pagesFor(chaos.offline, honestLive().length));
        for (const v of off) await v.page.context().setOffline(true);
        counts.offline += off.length;
        log(`volunteer(s) ${off.map((v) => v.index).join(', ')} offline ${when}`);
        setTimeout(
          () =>
            void Promise.all(
              off.map(
                (v) =>
                  v.live &&
                  v.page
                    .context()
                    .setOffline(false)
                    .catch(() => {}),
              ),
            ),
          4_000,
        );
      }
    };
    let chaosWork: Promise<void> = Promise.resolve();
    const readAllBytes = async () =>
      new Map(await Promise.all(volunteers.filter((v) => v.live).map(async (v) => [v, await readBytes(v.page).catch(() => null)] as const)));
    let bytesAtFirstCommit = new Map<Volunteer, PageBytes | null>();
    // 4 minutes a round, or twice the run's own round where that is longer (gpt-small's is 6 minutes on SwiftShader).
    const { trainMs, exchangeMs, reportMs } = info.run.timing;
    const done = await until(
      `${opts.rounds} committed rounds`,
      opts.rounds * Math.max(240_000, 2 * (trainMs + exchangeMs + reportMs)),
      async () => {
        const s = dash!.latest();
        const committed = s ? s.rounds.filter((r) => r.round >= startRound) : [];
        const last = committed.at(-1);
        if (Date.now() - lastProgressAt > 60_000) {
          // Stalled: say what each live page is doing.
          lastProgressAt = Date.now();
          for (const v of volunteers.filter((x) => x.live)) {
            const h = await readHook(v.page).catch(() => null);
            log(`stalled: volunteer ${v.index} state ${h?.state}, model round ${h?.modelRound}; last errors: ${h?.errors.slice(-2).join(' | ')}`);
          }
        }
        if (last && last.round > lastSeen) {
          if (lastSeen < 0) bytesAtFirstCommit = await readAllBytes();
          lastSeen = last.round;
          lastProgressAt = Date.now();
          log(
            `round ${last.round} committed: ${last.contributions} contributions, held-out accuracy ${(last.heldOutAccuracy * 100).toFixed(1)}%, loss ${last.heldOutLoss.toFixed(3)}`,
          );
          if (chaos.killCoordinatorAt !== null && last.round >= chaos.killCoordinatorAt && counts.restarts === 0) {
            // No waiting for page churn: the kill lands as close to the commit as the ledger reads allow.
            creditedBefore = await creditedRows(url, everyAddress());
            killedAt = (await new CoordinatorApi(url).run()).round - 1;
            await platform!.kill();
            log(
              `SIGKILLed the platform after round ${killedAt} committed (${creditedBefore.settled.size} settled and ${creditedBefore.awaitingCheck.size} spot-check-pending credited contributions in the ledger)`,
            );
            const port = Number(new URL(url).port);
            platformOutputs.push(platform!.output());
            platform = await startPlatformProcess(runSettings, {
              quiet: true,
              dataDir: dataDir!,
              port,
              env: { ...platformEnv, ...nat?.env },
              processGroup: true,
            });
            counts.restarts++;
            log(`platform restarted on the same data dir, port ${port} and chain`);
          } else if (last.round < targetRound - 1) {
            chaosWork = chaosWork.then(() => afterCommit(last.round)).catch((e) => log(`chaos after round ${last.round}: ${(e as Error).message}`));
          }
        }
        return committed.length >= opts.rounds && s;
      },
      200,
    );
    const bytesAtLastCommit = await readAllBytes();
    await chaosWork;
    function everyAddress(): string[] {
      return volunteers.flatMap((v) => (v.address ? [v.address] : []));
    }
    const live = volunteers.filter((v) => v.live);
    const honest = live.filter((v) => !v.attacker);
    if (opts.url) for (const v of live) await v.page.getByTestId('stop').click();
    const finalRound = done.rounds
      .filter((r) => r.round >= startRound)
      .slice(0, opts.rounds)
      .at(-1)!;
    const finalHash = finalRound.modelHash;

    // Rewards: epochs the coordinator posted while these rounds ran, then every live honest page claims.
    const epochRounds = info.run.rewards.epochRounds;
    const expectedEpochs = Math.floor(targetRound / epochRounds) - Math.floor(startRound / epochRounds);
    // An epoch waits for the spot checks queued before it (coordinator/rewards/epoch-policy.ts), which run
    // behind the rounds: wait while the validator makes progress, give up after 60 s without any.
    let progress = { checks: -1, at: Date.now() };
    await until(
      `${expectedEpochs} reward epochs`,
      15 * 60_000,
      async () => {
        if ((dash!.latest()?.epochs.length ?? 0) >= expectedEpochs) return true;
        const checks = (await validatorStatus(url))?.checks ?? 0;
        if (checks !== progress.checks) progress = { checks, at: Date.now() };
        if (Date.now() - progress.at > 60_000)
          throw new Error(`swarm: no reward epoch and no spot check finished in 60 s (${dash!.latest()?.epochs.length ?? 0} of ${expectedEpochs} epochs)`);
        return false;
      },
      250,
    ).catch((e) => log(String(e)));
    const validator = await validatorStatus(url);
    if (validator)
      log(
        `validator: ${validator.executor} (${validator.adapter ?? validator.fallback}), ${validator.checks} checks, mean ${validator.meanMs?.toFixed(0)} ms, max ${validator.maxMs?.toFixed(0)} ms, backlog now ${validator.backlog}, peak ${validator.peakBacklog}`,
      );
    // A page that joined after the last posted epoch has nothing to claim yet (its balance must then be 0).
    const claimers: Volunteer[] = [];
    for (const v of honest) {
      const address = (await readHook(v.page))?.address;
      if (address && BigInt((await accountSummary(url, address)).epochCreditWei) > 0n) claimers.push(v);
      else log(`volunteer ${v.index} has no credit in a posted epoch: nothing to claim`);
    }
    for (const v of claimers) {
      const claim = v.page.getByTestId('claim');
      await until(`volunteer ${v.index}'s claimable reward`, 60_000, () => claim.isEnabled());
      await claim.click();
    }
    await until('every claim transaction', 120_000, async () => {
      const hooks = await Promise.all(claimers.map((v) => readHook(v.page)));
      return hooks.every((h) => h && h.claims.length > 0);
    }).catch((e) => log(String(e)));

    // Every live page must reach the coordinator's latest model hash by applying published
    // updates (with --url the pages were stopped, so the run settles on a last round).
    let agreedHash: string = finalHash;
    await until('pages to apply the last update', 60_000, async () => {
      const [hooks, head] = await Promise.all([Promise.all(live.map((v) => readHook(v.page))), new CoordinatorApi(url).run()]);
      agreedHash = head.modelHash;
      return hooks.every((h) => h?.modelHash === agreedHash);
    }).catch(async (e) => {
      log(String(e));
      for (const v of live) {
        const h = await readHook(v.page).catch(() => null);
        log(
          `volunteer ${v.index}: state ${h?.state}, model round ${h?.modelRound}, hash ${h?.modelHash?.slice(0, 10)}…; last errors: ${h?.errors.slice(-3).join(' | ')}`,
        );
      }
    });
    const hooks = (await Promise.all(live.map((v) => readHook(v.page)))).map((h) => h!);
    const honestHooks = hooks.filter((_, i) => !live[i].attacker);

    const client = createPublicClient({ transport: http(new URL('rpc', url).toString()) });
    const distributor = info.chain.distributor;
    const [claimLogs, epochLogs] = await Promise.all([
      client.getLogs({
        address: distributor,
        event: parseAbiItem('event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount)'),
        fromBlock: 0n,
      }),
      client.getLogs({ address: distributor, event: parseAbiItem('event EpochPosted(uint64 indexed epoch, bytes32 root, bytes32 modelHash)'), fromBlock: 0n }),
    ]);
    const swarmAccounts = new Set(hooks.map((h) => h.address?.toLowerCase()));
    const ours = claimLogs.filter((l) => swarmAccounts.has((l.args.account as string).toLowerCase()));

    // Each volunteer received exactly what the ledger credited it in the posted epochs.
    const tokenAbi = [parseAbiItem('function balanceOf(address) view returns (uint256)')];
    const token = info.chain.token;
    const balanceOf = (account: Address) => client.readContract({ address: token, abi: tokenAbi, functionName: 'balanceOf', args: [account] });
    let claimsMatchLedger = true;
    for (const h of honestHooks) {
      const account = h.address as Address;
      const ledger = await new CoordinatorApi(url).account(account);
      const balance = await balanceOf(account);
      if (balance !== BigInt(ledger.epochCreditWei)) {
        claimsMatchLedger = false;
        log(`${account}: holds ${balance} token wei, the ledger credited ${ledger.epochCreditWei}`);
      }
    }

    // Attackers: wait until the validator has decided every one of their contributions.
    const attackerAddresses = volunteers.flatMap((v) => (v.attacker && v.address ? [v.address] : []));
    const attackers = await until("the attackers' spot checks", 90_000, async () => {
      const ls = await Promise.all(attackerAddresses.map((a) => attackerLedger(url, a)));
      return ls.every((l) => l.contributions.pending === 0 && l.contributions.accepted === 0) && ls;
    }).catch(async (e) => (log(String(e)), Promise.all(attackerAddresses.map((a) => attackerLedger(url, a)))));
    let attackerTokenWei = 0n;
    for (const a of attackerAddresses) attackerTokenWei += await balanceOf(a as Address);
    const dashboard = await new CoordinatorApi(url).dashboard();
    const after = counts.restarts ? await creditedRows(url, everyAddress()) : null;

    const committed = done.rounds.filter((r) => r.round >= startRound).slice(0, opts.rounds);
    const framesSent = honestHooks.reduce((s, h) => s + h.framesSent, 0);
    const frameBytes = honestHooks.reduce((s, h) => s + h.frameBytesSent, 0);
    const dense = info.run.paramCount * 4;
    const traffic = pageTraffic(bytesAtFirstCommit, bytesAtLastCommit, committed.length - 1);
    const result: SwarmResult = {
      rounds: committed.length,
      volunteers: opts.volunteers,
      heldOutAccuracy: finalRound.heldOutAccuracy,
      heldOutLoss: finalRound.heldOutLoss,
      heldOutLossByRound: committed.map((r) => r.heldOutLoss),
      paramCount: info.run.paramCount,
      modelHashesAgree: hooks.every((h) => h.modelHash === agreedHash),
      modelHash: agreedHash,
      p2pBytes: hooks.reduce((s, h) => s + h.p2pBytes, 0),
      frameBytesPerPeerPerRound: framesSent ? Math.round(frameBytes / framesSent) : 0,
      denseBytesPerPeerPerRound: dense,
      compressionRatio: frameBytes ? Number((dense / (frameBytes / framesSent)).toFixed(1)) : 0,
      ...traffic,
      lostRounds: committed.filter((r) => r.contributions === 0).length,
      rewardEpochs: epochLogs.length,
      claims: ours.length,
      claimsMatchLedger,
      chainId: info.chain.chainId,
      acceptedContributions: committed.reduce((s, r) => s + r.contributions, 0),
      firstRoundContributors: committed[0]?.contributions ?? 0,
      wallSeconds: Math.round((Date.now() - t0) / 1000),
      verification: dashboard.verification ?? {},
      validator: dashboard.validator ?? null,
      pageErrors: [...pageErrors, ...hooks.flatMap((h, i) => h.errors.map((e) => `volunteer ${live[i].index}: ${e}`))],
      chaos: {
        attack: chaos.attack,
        attackers,
        attackerCreditWei: attackers.reduce((s, a) => s + BigInt(a.creditWei), 0n).toString(),
        attackerTokenWei: attackerTokenWei.toString(),
        flagged: dashboard.flagged ?? null,
        pagesClosed: counts.closed,
        pagesOpened: counts.opened,
        pagesWentOffline: counts.offline,
        coordinatorRestarts: counts.restarts,
        killedAtRound: killedAt,
        roundsCommittedAfterKill: killedAt !== null ? committed.filter((r) => r.round > killedAt!).length : 0,
        creditedBeforeKill: creditedBefore.settled.size,
        lostAfterKill: after ? lostRows(creditedBefore.settled, after) : [],
        awaitingCheckAtKill: creditedBefore.awaitingCheck.size,
        refusedAfterKill: after ? lostRows(creditedBefore.awaitingCheck, after) : [],
        voteRounds: voteRounds(attackers, dashboard.insights?.outcomes ?? [], done.rounds),
      },
      ...(nat ? await nat.figures() : {}),
    };
    return result;
  } finally {
    dash?.close();
    if (opts.platformLog) await writePageLogs(opts.platformLog.replace(/(\.log)?$/, '-pages.log'), opened);
    await browser?.close().catch(() => {});
    await nat?.stop();
    await platform?.stop();
    process.removeListener('exit', writePlatformLog);
    writePlatformLog();
    await anvil?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

export const SWARM_CLI = {
  command: 'npm run swarm --',
  summary: `N headless Chromium volunteers train against a platform this starts (or the one at --url) for R
rounds and claim their rewards; figures are read from the running system. Exits 1 when the
pages' model hashes disagree or the chaos run lost settled credit.`,
  options: {
    volunteers: { type: 'string', arg: 'N', default: '3', help: 'Chromium volunteers, 1 to 64' },
    rounds: { type: 'string', arg: 'R', default: '8', help: 'rounds to train' },
    url: { type: 'string', arg: 'URL', help: 'a running platform instead of starting one' },
    preset: { type: 'string', arg: 'mlp|gpt-micro|gpt-small|gpt-base', default: 'mlp', help: 'the model preset (a GPT: on a generated grammar text)' },
    json: { type: 'boolean', help: 'stdout holds only the result as one JSON object' },
    byzantine: { type: 'string', arg: 'K', help: 'pages that attack (with --attack)' },
    attack: { type: 'string', arg: 'KIND', help: "the attackers' attack: sign-flip, noise, lazy …" },
    churn: { type: 'string', arg: 'P', help: 'share of honest pages closed and replaced at each commit' },
    'kill-coordinator-at': { type: 'string', arg: 'ROUND', help: 'SIGKILL the platform when this round commits, then restart it' },
    offline: { type: 'string', arg: 'P', help: 'share of pages that lose the network mid-round' },
    nat: { type: 'boolean', help: 'volunteers behind NATs in network namespaces (root, Linux; e2e/nat-lab.ts)' },
    'platform-log': { type: 'string', arg: 'FILE', help: "write the platform's output (restarts included) to FILE when the swarm ends" },
    'global-update': {
      type: 'string',
      arg: 'exact|compressed',
      help: "what the coordinator publishes each round (the run's globalUpdate; default the preset's)",
    },
    'inner-state': {
      type: 'string',
      arg: 'round|kept',
      help: "the pages' inner AdamW state between rounds (the run's inner.state; default the preset's: kept for the MLP)",
    },
    'sample-all': {
      type: 'boolean',
      help: 'the validator samples every contribution (verification rate and newIdentityRate 1): the evidence upload at its worst',
    },
    'sample-rate': {
      type: 'string',
      arg: 'P',
      help: "the validator samples each contribution with probability P (rate and newIdentityRate): a page's residual chain breaks at about P(1 − P) a round",
    },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

async function main(): Promise<string[]> {
  const values = parseCli(SWARM_CLI);
  const out = cliOutput(!!values.json);
  const volunteers = numberOption(values, 'volunteers', { min: 1, max: 64, integer: true })!;
  const rounds = numberOption(values, 'rounds', { min: 1, integer: true })!;
  const preset = values.preset as string;
  if (preset !== 'mlp' && !Object.hasOwn(GPT_SWARM_RUNS, preset))
    throw new UsageError(`--preset: expected mlp, ${Object.keys(GPT_SWARM_RUNS).join(', ')}, got ${preset}`);
  let chaos: ChaosOptions;
  try {
    chaos = chaosOptionsOf({ ...values, killCoordinatorAt: values['kill-coordinator-at'] }, volunteers);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const globalUpdate = values['global-update'];
  if (globalUpdate !== undefined && globalUpdate !== 'exact' && globalUpdate !== 'compressed')
    throw new UsageError(`--global-update: expected exact or compressed, got ${globalUpdate}`);
  const innerState = values['inner-state'];
  if (innerState !== undefined && innerState !== 'round' && innerState !== 'kept')
    throw new UsageError(`--inner-state: expected round or kept, got ${innerState}`);
  const sampleRate = numberOption(values, 'sample-rate', { min: 0, max: 1 });
  if (values['sample-all'] && sampleRate !== undefined) throw new UsageError('--sample-all and --sample-rate: give one');
  const presetRun = preset === 'mlp' ? undefined : GPT_SWARM_RUNS[preset as keyof typeof GPT_SWARM_RUNS];
  const run = {
    ...presetRun,
    ...(globalUpdate ? { globalUpdate } : {}),
    ...(innerState ? { inner: { ...(presetRun?.inner as object | undefined), state: innerState } } : {}),
    ...(values['sample-all'] || sampleRate !== undefined
      ? { verification: { ...(presetRun?.verification as object | undefined), rate: sampleRate ?? 1, newIdentityRate: sampleRate ?? 1 } }
      : {}),
  };
  if (presetRun && !values.url) out.progress(`${preset} on generated text ${useGeneratedText()}`);
  const r = await runSwarm({ volunteers, rounds, url: values.url, run, chaos, nat: values.nat, platformLog: values['platform-log'], log: out.progress });
  const c = r.chaos;
  out.summary(`
swarm summary
  rounds committed         ${r.rounds} (${r.acceptedContributions} accepted contributions; ${r.firstRoundContributors} in the first round)
  held-out accuracy        ${(r.heldOutAccuracy * 100).toFixed(2)}%
  held-out loss            ${r.heldOutLoss.toFixed(4)}
  held-out loss by round   ${r.heldOutLossByRound.map((l) => l.toFixed(3)).join(' → ')}
  model hashes agree       ${r.modelHashesAgree} (${r.modelHash.slice(0, 18)}…)
  WebRTC bytes received    ${r.p2pBytes}
  frame bytes/peer/round   ${r.frameBytesPerPeerPerRound} vs dense ${r.denseBytesPerPeerPerRound} (${r.compressionRatio}×)
  bytes/peer/round         up ${r.upBytesPerPeerPerRound} (ws ${r.upBytesByTransport.ws}, http ${r.upBytesByTransport.http}, dc ${r.upBytesByTransport.dc}), down ${r.downBytesPerPeerPerRound} (ws ${r.downBytesByTransport.ws}, http ${r.downBytesByTransport.http}, dc ${r.downBytesByTransport.dc}; global update ${r.updateBytesPerPeerPerRound}, its body ${r.updateBodyBytesPerPeerPerRound}), spot-check evidence up ${r.evidenceBytesPerPeerPerRound}; mean cohort ${r.cohortSize}; ${r.relayedFrames} relayed frames
  WebRTC dials/peer/round  ${r.dialsPerPeerPerRound} (peer connections ${r.peerConnectionsPerPeerPerRound}; ${r.peerConnectionsPerPeer} a page in all, round 0 included)
  lost rounds              ${r.lostRounds} (committed with no accepted contribution)
  reward epochs on chain   ${r.rewardEpochs}
  claims on chain          ${r.claims} (chain ${r.chainId}); balances equal ledger credit: ${r.claimsMatchLedger}
  spot checks              ${
    Object.entries(r.verification)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  }
  attackers (${c.attack ?? 'none'})       ${c.attackers.map((a) => `${a.account.slice(0, 10)}… credit ${a.creditWei} wei, refused ${a.contributions.rejected} (${a.codes.join(', ')})`).join('; ') || 'none'}; tokens held ${c.attackerTokenWei}
  refusals by code         ${
    Object.entries(c.flagged?.rejections ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  }
  flagged identities       ${c.flagged?.identities.map((f) => `${f.account.slice(0, 10)}… reputation ${f.reputation}`).join(', ') || 'none'}
  churn / offline          ${c.pagesClosed} pages closed, ${c.pagesOpened} opened, ${c.pagesWentOffline} went offline
  coordinator kills        ${c.coordinatorRestarts} (at round ${c.killedAtRound ?? '—'}); ${c.roundsCommittedAfterKill} rounds committed after; ${c.lostAfterKill.length} of ${c.creditedBeforeKill} settled credited contributions lost; ${c.refusedAfterKill.length} of ${c.awaitingCheckAtKill} awaiting a spot check refused after
  NAT links (--nat)        ${
    r.nat
      ? `${r.nat.links.connected}/${r.nat.links.tried} connected behind ${r.nat.nats.join(', ')} NATs; selected candidates ${Object.entries(
          r.iceCandidateTypes ?? {},
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`
      : 'not in the lab'
  }
  wall time                ${r.wallSeconds} s
  page errors              ${r.pageErrors.length ? '\n    ' + r.pageErrors.join('\n    ') : 'none'}`);
  out.json(r);
  return [
    ...(r.modelHashesAgree ? [] : ["the pages' model hashes disagree"]),
    // Without chaos (no kill, churn or offline pages) every round must carry work (issue 16).
    ...(r.lostRounds && c.coordinatorRestarts === 0 && c.pagesClosed === 0 && c.pagesWentOffline === 0
      ? [`${r.lostRounds} round(s) committed with no accepted contribution`]
      : []),
    ...(c.lostAfterKill.length ? [`${c.lostAfterKill.length} settled credited contributions lost after the coordinator kill`] : []),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // A signal (Ctrl-C, a timeout's SIGTERM, a closed terminal) ends the harness through
  // process.exit, so the 'exit' hooks stop what it started: the platform and its descendants
  // (e2e/platform-process.ts), the swarm's own anvil (coordinator/chain/anvil.ts) and Chromium
  // (Playwright's). Node's default for these signals exits without running them.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(128 + osConstants.signals[sig]));
  runCli(SWARM_CLI, main);
}
