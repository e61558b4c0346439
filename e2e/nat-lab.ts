// The NAT lab: Chromium volunteers behind Linux NATs, coturn on the "internet", all on
// addresses this file creates (network namespaces, veth pairs, private subnets; nothing on
// the machine's real interfaces, and no host sysctl changed).
//
//   host namespace ── 100.64.N.1 (the coordinator listens here)
//        │ veth
//   <lab>-pub: bridge 100.64.N.0/24 ── 100.64.N.2 coturn (STUN + TURN, REST secret)
//        │ veth per volunteer
//   <lab>-r<i>: router, WAN 100.64.N.(10+i), LAN 192.168.1.1, iptables MASQUERADE, and a
//        │    firewall dropping unsolicited WAN packets (as home routers do)
//        │            (cone: Linux's port-preserving mapping, address-and-port-dependent
//        │             filtering; symmetric: `--random-fully`, a new port per destination)
//   <lab>-c<i>: 192.168.1.2, default route via the router; Chromium runs here
//               (`ip netns exec`, as Playwright's executable)
//
// Every home uses the same 192.168.1.0/24, as real homes do, so a host candidate never
// reaches another volunteer.
//
// What the lab does NOT model: packet loss, latency, jitter or bandwidth limits (every link
// is a lossless veth); NAT mapping timeouts and their refresh (rounds are shorter than
// conntrack's UDP timeouts); hairpinning (no two volunteers share a NAT); NATs that drop
// UDP entirely or allow only TCP/443 (TURN over TCP/TLS is not exercised); IPv6; carrier-grade
// double NAT; DNS (every address is a literal); firewalls that inspect STUN; the browser's
// mDNS host candidates resolving on a shared LAN. A link that connects here may still fail on
// the internet for those reasons; one that fails here would fail there too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM_ARGS } from './chromium.ts';
import { startPlatformProcess } from './platform-process.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';

export type NatKind = 'cone' | 'symmetric';
export type IceMode = 'none' | 'stun' | 'turn';

export interface NatHost {
  index: number;
  kind: NatKind;
  /** The namespace Chromium runs in. */
  netns: string;
  /** The router's address on the public segment (what STUN reports). */
  publicAddress: string;
}

export interface NatLab {
  /** Host-namespace address on the public segment: start the coordinator with HOST set to it. */
  publicAddress: string;
  turnAddress: string;
  hosts: NatHost[];
  /** The coordinator's environment for one ICE mode (HOST and the ICE variables). */
  platformEnv(mode: IceMode): NodeJS.ProcessEnv;
  /** A headless Chromium inside host `i`'s namespace that treats `origin` (plain http) as secure. */
  launchBrowser(i: number, origin: string): Promise<Browser>;
  /** coturn's log so far (allocations, refused credentials). */
  turnLog(): string;
  stop(): Promise<void>;
}

function sh(args: string[], what = args.join(' ')): string {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nat lab: \`${what}\` failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
  return r.stdout;
}

/** Why this machine cannot host the lab, or null when it can (root, ip, iptables, coturn, namespaces). */
export function natLabUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  for (const bin of ['ip', 'iptables', 'turnserver']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed (apt-get install -y iproute2 iptables coturn)`;
  }
  const probe = `igprobe-${randomBytes(3).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/** A /24 in 100.64.0.0/10 (shared address space) that no route on this machine uses. */
function freePublicSubnet(): number {
  const routes = sh(['ip', '-4', 'route', 'show']);
  for (let tries = 0; tries < 64; tries++) {
    const n = 1 + Math.floor(Math.random() * 250);
    if (!routes.includes(`100.64.${n}.`)) return n;
  }
  throw new Error('nat lab: no free 100.64.N.0/24 subnet');
}

export async function startNatLab(kinds: NatKind[]): Promise<NatLab> {
  const id = randomBytes(3).toString('hex');
  const lab = `ig${id}`;
  const n = freePublicSubnet();
  const net = (host: number) => `100.64.${n}.${host}`;
  const dir = mkdtempSync(join(tmpdir(), `idlegrad-natlab-`));
  const namespaces: string[] = [];
  const hostIf = `${lab}h`;
  let turn: ChildProcess | null = null;
  let turnOut = '';
  const netns = (name: string) => (sh(['ip', 'netns', 'add', name]), namespaces.push(name), sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']), name);
  const inNs = (ns: string, ...args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);
  // Deleting a namespace deletes its veth ends, and with them their peers (the host's included).
  const teardown = () => {
    if (turn && turn.exitCode === null) turn.kill('SIGKILL');
    for (const ns of namespaces.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  // A test killed at its timeout leaves no namespace and no coturn behind.
  process.once('exit', teardown);
  const stop = async () => {
    process.off('exit', teardown);
    if (turn && turn.exitCode === null) {
      const exited = new Promise((r) => turn!.once('exit', r));
      turn.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
    }
    teardown();
  };
  try {
    const pub = netns(`${lab}-pub`);
    sh(['ip', '-n', pub, 'link', 'add', 'br0', 'type', 'bridge']);
    sh(['ip', '-n', pub, 'addr', 'add', `${net(2)}/24`, 'dev', 'br0']);
    sh(['ip', '-n', pub, 'link', 'set', 'br0', 'up']);
    sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'up0', 'netns', pub]);
    sh(['ip', 'addr', 'add', `${net(1)}/24`, 'dev', hostIf]);
    sh(['ip', 'link', 'set', hostIf, 'up']);
    sh(['ip', '-n', pub, 'link', 'set', 'up0', 'master', 'br0', 'up']);
    const hosts: NatHost[] = kinds.map((kind, i) => {
      const r = netns(`${lab}-r${i}`);
      const c = netns(`${lab}-c${i}`);
      sh(['ip', '-n', pub, 'link', 'add', `up${i + 1}`, 'type', 'veth', 'peer', 'name', 'wan', 'netns', r]);
      sh(['ip', '-n', pub, 'link', 'set', `up${i + 1}`, 'master', 'br0', 'up']);
      sh(['ip', '-n', r, 'addr', 'add', `${net(10 + i)}/24`, 'dev', 'wan']);
      sh(['ip', '-n', r, 'link', 'set', 'wan', 'up']);
      sh(['ip', '-n', r, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c]);
      sh(['ip', '-n', r, 'addr', 'add', '192.168.1.1/24', 'dev', 'lan']);
      sh(['ip', '-n', r, 'link', 'set', 'lan', 'up']);
      sh(['ip', '-n', c, 'addr', 'add', '192.168.1.2/24', 'dev', 'eth0']);
      sh(['ip', '-n', c, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', c, 'route', 'add', 'default', 'via', '192.168.1.1']);
      inNs(r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      inNs(r, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(kind === 'symmetric' ? ['--random-fully'] : []));
      // A home router's firewall: unsolicited packets from the WAN are dropped. Without this
      // a peer's first check, arriving before this side has sent anything, is delivered to the
      // router itself and leaves a conntrack entry on the very port the mapping would use, so
      // MASQUERADE moves the mapping and cone ↔ cone hole punching fails (a dropped packet's
      // entry is never confirmed).
      inNs(r, 'iptables', '-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP');
      inNs(r, 'iptables', '-A', 'FORWARD', '-i', 'wan', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP');
      return { index: i, kind, netns: c, publicAddress: net(10 + i) };
    });

    // coturn with the REST secret, on the public segment only.
    const secret = randomBytes(24).toString('base64url');
    const conf = join(dir, 'turnserver.conf');
    writeFileSync(
      conf,
      [
        `listening-ip=${net(2)}`,
        `relay-ip=${net(2)}`,
        'listening-port=3478',
        'min-port=49152',
        'max-port=49999',
        'use-auth-secret',
        `static-auth-secret=${secret}`,
        'realm=idlegrad.lab',
        'fingerprint',
        'no-tls',
        'no-dtls',
        'no-cli',
        'no-tcp-relay',
        `allowed-peer-ip=${net(0)}-${net(255)}`,
        'log-file=stdout',
        'simple-log',
        'verbose',
        `pidfile=${join(dir, 'turnserver.pid')}`,
        `userdb=${join(dir, 'turndb')}`,
      ].join('\n') + '\n',
    );
    turn = spawn('ip', ['netns', 'exec', pub, 'turnserver', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    turn.stdout!.on('data', (d) => (turnOut += d.toString()));
    turn.stderr!.on('data', (d) => (turnOut += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const end = Date.now() + 10_000;
      const poll = () => {
        if (turn!.exitCode !== null) return reject(new Error(`nat lab: coturn exited (${turn!.exitCode}):\n${turnOut}`));
        const listening = spawnSync('ip', ['netns', 'exec', pub, 'ss', '-uln'], { encoding: 'utf8' }).stdout.includes(`${net(2)}:3478`);
        if (listening) return resolve();
        if (Date.now() > end) return reject(new Error(`nat lab: coturn did not listen on ${net(2)}:3478 within 10 s:\n${turnOut}`));
        setTimeout(poll, 100);
      };
      poll();
    });

    const stunUrl = `stun:${net(2)}:3478`;
    const wrappers = hosts.map((h) => {
      const path = join(dir, `chromium-${h.index}.sh`);
      writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${h.netns} ${process.env.CHROMIUM_PATH || '/usr/bin/chromium'} "$@"\n`);
      chmodSync(path, 0o755);
      return path;
    });
    return {
      publicAddress: net(1),
      turnAddress: net(2),
      hosts,
      platformEnv(mode) {
        const env: NodeJS.ProcessEnv = { HOST: net(1), IDLEGRAD_ICE_SERVERS: '', IDLEGRAD_TURN_URLS: '', IDLEGRAD_TURN_SECRET: '' };
        if (mode !== 'none') env.IDLEGRAD_ICE_SERVERS = JSON.stringify([{ urls: stunUrl }]);
        if (mode === 'turn') Object.assign(env, { IDLEGRAD_TURN_URLS: `turn:${net(2)}:3478?transport=udp`, IDLEGRAD_TURN_SECRET: secret });
        return env;
      },
      async launchBrowser(i, origin) {
        return chromium.launch({
          executablePath: wrappers[i],
          headless: true,
          args: [...CHROMIUM_ARGS, '--headless=new', `--unsafely-treat-insecure-origin-as-secure=${origin.replace(/\/$/, '')}`],
        });
      },
      turnLog: () => turnOut,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---- which links connected, and through what --------------------------------------------

/**
 * Injected before the app loads: records every RTCPeerConnection the page makes (the data
 * channel label PeerJS gives it, which side dialled, whether it connected) and, once
 * connected, the candidate types of the selected pair from getStats().
 */
export const RECORD_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__natLabLinks) return;
  const links = [];
  Object.defineProperty(window, '__natLabLinks', { value: links });
  const selected = async (pc) => {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId) || pair; });
    if (!pair) return null;
    return { local: stats.get(pair.localCandidateId)?.candidateType ?? null, remote: stats.get(pair.remoteCandidateId)?.candidateType ?? null };
  };
  class RecordedPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      const rec = { label: null, dialer: false, state: 'new', connected: false, local: null, remote: null, iceServers: (args[0]?.iceServers ?? []).length };
      links.push(rec);
      this.addEventListener('datachannel', (e) => { rec.label = rec.label ?? e.channel.label; });
      this.addEventListener('connectionstatechange', () => {
        rec.state = this.connectionState;
        if (this.connectionState === 'connected' && !rec.connected) {
          rec.connected = true;
          selected(this).then((t) => t && Object.assign(rec, t)).catch(() => {});
        }
      });
      const create = this.createDataChannel.bind(this);
      this.createDataChannel = (label, opts) => { rec.label = rec.label ?? label; rec.dialer = true; return create(label, opts); };
    }
  }
  window.RTCPeerConnection = RecordedPeerConnection;
})();`;

interface PcRecord {
  label: string | null;
  dialer: boolean;
  state: string;
  connected: boolean;
  local: string | null;
  remote: string | null;
  iceServers: number;
}

export interface LinkAttempt {
  /** Volunteer indices: the one that dialled, the one dialled. */
  from: number;
  to: number;
  connected: boolean;
  /** Selected pair as the dialler saw it (local = its own candidate). */
  local: string | null;
  remote: string | null;
  /** ICE servers the dialler's RTCPeerConnection was given. */
  iceServers: number;
}

export type CandidateCounts = Record<'host' | 'srflx' | 'prflx' | 'relay', number>;

/**
 * Watches pages for the lab: each page's PeerJS id (from its signalling socket's URL) and
 * the connection ids it offered to whom (from its OFFER frames), so a recorded
 * RTCPeerConnection is known as the link between two volunteers.
 */
export class LinkRecorder {
  private readonly peerIds = new Map<string, number>();
  private readonly offers = new Map<string, { from: number; toPeer: string }>();
  private readonly pages = new Map<number, Page>();

  async watch(page: Page, index: number): Promise<void> {
    this.pages.set(index, page);
    await page.addInitScript(RECORD_PEER_CONNECTIONS);
    page.on('websocket', (ws) => {
      if (!ws.url().includes('/peerjs')) return;
      const id = new URL(ws.url()).searchParams.get('id');
      if (id) this.peerIds.set(id, index);
      ws.on('framesent', (f) => {
        if (typeof f.payload !== 'string' || !f.payload.includes('"OFFER"')) return;
        try {
          const m = JSON.parse(f.payload) as { type?: string; dst?: string; payload?: { connectionId?: string } };
          if (m.type === 'OFFER' && m.dst && m.payload?.connectionId) this.offers.set(m.payload.connectionId, { from: index, toPeer: m.dst });
        } catch {
          // not a PeerJS message
        }
      });
    });
  }

  /** The most ICE servers any of page `index`'s link RTCPeerConnections was given (dialled or answered). */
  async iceServers(index: number): Promise<number> {
    const recs = (await this.pages
      .get(index)
      ?.evaluate(() => (window as unknown as { __natLabLinks?: unknown[] }).__natLabLinks ?? [])
      .catch(() => [])) as PcRecord[] | undefined;
    // PeerJS's feature probe (an RTCPeerConnection with PeerJS's default servers) never leaves 'new'.
    return Math.max(0, ...(recs ?? []).filter((r) => r.state !== 'new').map((r) => r.iceServers));
  }

  /** Every dialled link so far, from the diallers' records (a dial that never offered is not a link). */
  async attempts(): Promise<LinkAttempt[]> {
    const out: LinkAttempt[] = [];
    for (const [index, page] of this.pages) {
      const recs = (await page.evaluate(() => (window as unknown as { __natLabLinks?: unknown[] }).__natLabLinks ?? []).catch(() => [])) as PcRecord[];
      for (const r of recs) {
        if (!r.dialer || !r.label) continue;
        const offer = this.offers.get(r.label);
        const to = offer ? this.peerIds.get(offer.toPeer) : undefined;
        if (!offer || offer.from !== index || to === undefined) continue;
        out.push({ from: index, to, connected: r.connected, local: r.local, remote: r.remote, iceServers: r.iceServers });
      }
    }
    return out;
  }
}

/** host/srflx/prflx/relay counts over both candidates of every connected link's selected pair. */
export function iceCandidateTypes(attempts: LinkAttempt[]): CandidateCounts {
  const counts: CandidateCounts = { host: 0, srflx: 0, prflx: 0, relay: 0 };
  for (const a of attempts) {
    if (!a.connected) continue;
    for (const t of [a.local, a.remote]) if (t && t in counts) counts[t as keyof CandidateCounts]++;
  }
  return counts;
}

/** Per unordered pair "i-j": links tried and connected. */
export function linksByPair(attempts: LinkAttempt[]): Record<string, { tried: number; connected: number }> {
  const out: Record<string, { tried: number; connected: number }> = {};
  for (const a of attempts) {
    const key = `${Math.min(a.from, a.to)}-${Math.max(a.from, a.to)}`;
    const p = (out[key] ??= { tried: 0, connected: 0 });
    p.tried++;
    if (a.connected) p.connected++;
  }
  return out;
}

// ---- one lab scenario: a platform with one ICE mode, one browser per namespace -----------

export interface NatScenario {
  mode: IceMode;
  rounds: { round: number; contributions: number; heldOutAccuracy: number }[];
  attempts: LinkAttempt[];
  pairs: Record<string, { tried: number; connected: number }>;
  iceCandidateTypes: CandidateCounts;
  /** WebRTC bytes each page received (index order): 0 means every frame went through the coordinator. */
  p2pBytes: number[];
  /** ICE servers each page's links were given (index order; the mode's STUN and TURN entries). */
  iceServers: number[];
  modelHashes: (string | null)[];
  coordinatorHash: string;
  pageErrors: string[];
  seconds: number;
}

/** Short rounds, no spot checks: the lab measures links, not verification. */
export const NAT_LAB_RUN = { timing: { trainMs: 5_000, exchangeMs: 8_000, reportMs: 5_000 }, verification: { rate: 0, newIdentityRate: 0 } };

/** Runs `rounds` rounds on a platform started with `mode`'s ICE settings, one volunteer per lab host. */
export async function runNatScenario(lab: NatLab, mode: IceMode, rounds: number, log: (l: string) => void = () => {}): Promise<NatScenario> {
  const t0 = Date.now();
  const platform = await startPlatformProcess(
    { ...NAT_LAB_RUN, minVolunteers: lab.hosts.length, maxRounds: rounds },
    { quiet: true, env: lab.platformEnv(mode) },
  );
  const browsers: Browser[] = [];
  try {
    const url = platform.url;
    const api = new CoordinatorApi(url);
    const recorder = new LinkRecorder();
    const pageErrors: string[] = [];
    const pages: Page[] = [];
    await Promise.all(
      lab.hosts.map(async (h) => {
        const browser = await lab.launchBrowser(h.index, url);
        browsers.push(browser);
        const page = await (await browser.newContext()).newPage();
        page.on('pageerror', (e) => pageErrors.push(`volunteer ${h.index}: ${e.message}`));
        await recorder.watch(page, h.index);
        await page.goto(url);
        await page.getByTestId('consent').click();
        await page.getByTestId('start').click();
        pages[h.index] = page;
      }),
    );
    log(`${mode}: after ${Math.round((Date.now() - t0) / 1000)} s ${pages.length} volunteers started behind ${lab.hosts.map((h) => h.kind).join(', ')} NATs`);
    const end = Date.now() + rounds * 90_000;
    let committed: NatScenario['rounds'] = [];
    while (committed.length < rounds) {
      if (Date.now() > end) throw new Error(`nat lab (${mode}): ${committed.length} of ${rounds} rounds committed in time`);
      await new Promise((r) => setTimeout(r, 500));
      committed = (await api.dashboard()).rounds.map((r) => ({ round: r.round, contributions: r.contributions, heldOutAccuracy: r.heldOutAccuracy }));
    }
    log(`${mode}: after ${Math.round((Date.now() - t0) / 1000)} s ${rounds} round(s) committed`);
    const head = await api.run();
    type Hook = { modelHash: string | null; p2pBytes: number; errors: string[] };
    const readHooks = () =>
      Promise.all(
        pages.map((p) =>
          p
            .evaluate(() => (window as unknown as { __idlegrad?: Hook }).__idlegrad)
            .then((h) => h && { modelHash: h.modelHash, p2pBytes: h.p2pBytes, errors: h.errors }),
        ),
      );
    let hooks = await readHooks();
    for (let wait = Date.now() + 20_000; hooks.some((h) => h?.modelHash !== head.modelHash) && Date.now() < wait;) {
      await new Promise((r) => setTimeout(r, 500));
      hooks = await readHooks();
    }
    const attempts = await recorder.attempts();
    return {
      mode,
      rounds: committed,
      attempts,
      pairs: linksByPair(attempts),
      iceCandidateTypes: iceCandidateTypes(attempts),
      p2pBytes: hooks.map((h) => h?.p2pBytes ?? 0),
      iceServers: await Promise.all(lab.hosts.map((h) => recorder.iceServers(h.index))),
      modelHashes: hooks.map((h) => h?.modelHash ?? null),
      coordinatorHash: head.modelHash,
      pageErrors: [...pageErrors, ...hooks.flatMap((h, i) => (h?.errors ?? []).map((e) => `volunteer ${i}: ${e}`))],
      seconds: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    await Promise.all(browsers.map((b) => b.close().catch(() => {})));
    await platform.stop();
  }
}

// ---- the swarm behind NATs (`npm run swarm -- --nat`) ------------------------------------

/** What `npm run swarm -- --nat --json` adds to its result. */
export interface NatSwarmFigures {
  /** Selected candidate pairs of the connected links: host/srflx/prflx/relay counts (both ends). */
  iceCandidateTypes: CandidateCounts;
  nat: {
    /** The NAT in front of each lab host (volunteer i uses host i mod hosts). */
    nats: NatKind[];
    /** Cohort links dialled and connected over the whole swarm, and by pair of volunteers. */
    links: { tried: number; connected: number };
    pairs: Record<string, { tried: number; connected: number }>;
  };
}

export interface NatSwarm {
  /** The platform's environment: HOST on the public segment, STUN and TURN with the lab's secret. */
  env: NodeJS.ProcessEnv;
  /** A fresh browser context (own storage, own device key) for volunteer `index`, in its host's namespace. */
  newContext(index: number, url: string): Promise<BrowserContext>;
  /** Record the page's links (before it loads the app). */
  watch(page: Page, index: number): Promise<void>;
  figures(): Promise<NatSwarmFigures>;
  stop(): Promise<void>;
}

/** Every third volunteer behind a symmetric NAT, the rest behind cone NATs; TURN configured. */
export async function startNatSwarm(volunteers: number): Promise<NatSwarm> {
  const nats = Array.from({ length: volunteers }, (_, i): NatKind => (i % 3 === 2 ? 'symmetric' : 'cone'));
  const lab = await startNatLab(nats);
  const recorder = new LinkRecorder();
  const browsers = new Map<number, Browser>();
  return {
    env: lab.platformEnv('turn'),
    async newContext(index, url) {
      const host = index % nats.length;
      // One browser per namespace; a replacement volunteer gets a fresh context in it.
      let browser = browsers.get(host);
      if (!browser) browsers.set(host, (browser = await lab.launchBrowser(host, url)));
      return browser.newContext();
    },
    watch: (page, index) => recorder.watch(page, index),
    async figures() {
      const attempts = await recorder.attempts();
      return {
        iceCandidateTypes: iceCandidateTypes(attempts),
        nat: { nats, links: { tried: attempts.length, connected: attempts.filter((a) => a.connected).length }, pairs: linksByPair(attempts) },
      };
    },
    async stop() {
      await Promise.all([...browsers.values()].map((b) => b.close().catch(() => {})));
      await lab.stop();
    },
  };
}
