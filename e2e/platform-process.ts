// Start the platform as `npm start` does, in a child process (its own data directory,
// a free port), for harnesses and end-to-end tests; stop it and everything it started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatabase } from '../coordinator/db/index.ts';
import type { RunSettings } from '../shared/config.ts';

/** Run settings are merged over the defaults at any depth (coordinator/config.ts). */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface PlatformProcess {
  url: string;
  dataDir: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
  /** SIGKILL the platform's process group (only with `processGroup`): a crash, nothing saved on the way out. */
  kill(): Promise<void>;
}

export { ensureWebBuild, WEB_DIRS } from '../coordinator/deploy/index.ts';
import { ensureWebBuild } from '../coordinator/deploy/index.ts';
import { recordHarnessTime, timedStep } from './harness-times.ts';

/**
 * Round timing for end-to-end tests whose claims are about what rounds carry (contributions,
 * credit, claims, relays), not how long they wait. The default 20 s training window
 * (shared/config.ts) is mostly idle there: 100 MLP steps of batch 32 take about a second on
 * SwiftShader, and a round never commits before its training window ends
 * (coordinator/round/decide.ts commitAt). The exchange and report windows keep room for a
 * blocked page's relay (its frame goes out at exchangeMs) and the cohort's agreement.
 */
export const TEST_ROUND_TIMING = { trainMs: 6_000, exchangeMs: 4_000, reportMs: 5_000 };

export interface PlatformProcessOptions {
  /** Reuse a data directory (a restart); it is then left in place on stop(). Default: a new temporary one. */
  dataDir?: string;
  quiet?: boolean;
  /** Port to listen on; default 0 (a free one). A restart passes the old one so pages find it again. */
  port?: number;
  /** Extra environment, e.g. RPC_URL and DEPLOYER_KEY for a chain that outlives the platform. */
  env?: NodeJS.ProcessEnv;
  /** Start it as its own process group, so kill() can take down everything it started. */
  processGroup?: boolean;
  /** Extra node flags for the platform process, e.g. `--cpu-prof` (NODE_OPTIONS refuses it). */
  nodeArgs?: string[];
  /**
   * Run the coordinator from source (`--import tsx coordinator/main.ts`) instead of dist/server:
   * seconds slower to start (the startup-timeout test needs a start it can outrun). Default: the
   * environment's IDLEGRAD_E2E_FROM_SOURCE=1.
   */
  fromSource?: boolean;
  /** How long the platform may take to print its volunteer URL; past it the process is stopped and the start fails. Default 120 s. */
  startupTimeoutMs?: number;
}

/** A process as /proc names it: its pid and start time (clock ticks since boot), so a reused pid is never taken for it. */
interface ProcId {
  pid: number;
  start: string;
}

/** /proc/<pid>/stat after "(comm)" (comm may hold spaces and parentheses): field 3 onwards; null when it is gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Every live descendant of `pid`, from /proc (Linux; elsewhere none: the group kill still works). */
function descendantsOf(pid: number): ProcId[] {
  if (!existsSync('/proc')) return [];
  const children = new Map<number, ProcId[]>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    // Fields 4 (ppid) and 22 (starttime), counted from 1 with pid and comm.
    const f = statFields(Number(p));
    if (!f) continue; // exited meanwhile
    const ppid = Number(f[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), { pid: Number(p), start: f[19] }]);
  }
  const out: ProcId[] = [];
  for (let todo = [pid]; todo.length;) {
    const next = todo.flatMap((q) => children.get(q) ?? []);
    out.push(...next);
    todo = next.map((c) => c.pid);
  }
  return out;
}

/** Whether `p` still runs (the same process: a pid reused since has another start time). */
const alive = (p: ProcId): boolean => {
  const f = statFields(p.pid);
  return !!f && f[19] === p.start && f[0] !== 'Z';
};

function signalAll(procs: ProcId[], signal: NodeJS.Signals): void {
  for (const p of procs) {
    if (!alive(p)) continue;
    try {
      process.kill(p.pid, signal);
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops `child` (SIGTERM; SIGKILL after `graceMs`) and then whatever it had started that outlived
 * it: SIGTERM, SIGKILL after 5 s. Anvil above all: a platform SIGKILLed at the deadline never runs
 * the exit hook that stops its chain (coordinator/chain/anvil.ts), and a gpt-small platform's
 * drain (the open round's commit and held-out evaluation) can outlast the deadline — the swarm
 * left anvil running after big-preset runs, once for 1 h 38 min. Its descendants are read before
 * the signal: once it is gone they are orphans of init that no one would find.
 */
export async function stopProcessTree(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const started = descendantsOf(child.pid!);
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
  signalAll(started, 'SIGTERM');
  for (let waited = 0; waited < 5_000 && started.some(alive); waited += 100) await sleep(100);
  signalAll(started, 'SIGKILL');
}

/** Resolves once `p` has printed a line matching `re`; past `timeoutMs`, fails with its output. */
export async function waitForOutput(p: Pick<PlatformProcess, 'output'>, re: RegExp, timeoutMs = 60_000): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(20)) if (re.test(p.output())) return;
  throw new Error(`no line matching ${re} within ${timeoutMs} ms:\n${p.output()}`);
}

const ROOT = resolve(import.meta.dirname, '..');

/**
 * A migrated, empty PGlite ledger to copy into a platform's fresh data directory. Creating one
 * (PGlite's initdb and every migration) is 11 s of a platform's start at load 10 on the 2-core
 * machine, where copying it and opening the copy is 2.5 s (ci25); every start on a fresh data
 * directory made one. Kept under the temporary directory, named by the migrations' source and
 * PGlite's version, so a changed migration makes a new one; built beside it and renamed into place.
 */
async function ledgerTemplate(): Promise<string> {
  const key = createHash('sha256')
    .update(readFileSync(join(ROOT, 'coordinator/db/migrations.ts')))
    .update(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json')))
    .digest('hex')
    .slice(0, 16);
  const dir = join(tmpdir(), `idlegrad-ledger-template-${key}`);
  if (existsSync(dir)) return dir;
  const building = mkdtempSync(`${dir}.building-`);
  try {
    await (await openDatabase({ dataDir: join(building, 'ledger') })).close();
    try {
      renameSync(join(building, 'ledger'), dir);
    } catch (e) {
      if (!existsSync(dir)) throw e; // another run put one there first
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}

/**
 * A fresh data directory's ledger, copied from the template (ledgerTemplate): when the platform
 * would create a PGlite ledger there (no DATABASE_URL, no ledger yet), what it finds is the same
 * empty, migrated one it would have made. IDLEGRAD_E2E_FRESH_LEDGER=1: let it make its own.
 */
async function seedLedger(dataDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  if (env.DATABASE_URL || env.IDLEGRAD_E2E_FRESH_LEDGER === '1' || existsSync(join(dataDir, 'ledger'))) return;
  cpSync(await ledgerTemplate(), join(dataDir, 'ledger'), { recursive: true });
}

let serverBuildChecked = false;

/**
 * The coordinator's command line, as `npm start` runs it: its prestart (build-server.mjs, which
 * rebuilds dist/server only when a source is newer than it; once per test process), then the
 * compiled coordinator, dist/server/start.js, whose worker threads run their own bundles. The same
 * sources as `--import tsx coordinator/main.ts`, without compiling them at every start: 2.4–2.8 s
 * of CPU against 3.7–4.5 s per start (ci26, load 7). IDLEGRAD_E2E_FROM_SOURCE=1: run from source.
 */
function platformEntry(fromSource = process.env.IDLEGRAD_E2E_FROM_SOURCE === '1'): string[] {
  if (fromSource) return ['--import', 'tsx', 'coordinator/main.ts'];
  if (!serverBuildChecked) {
    const r = spawnSync(process.execPath, [join(ROOT, 'coordinator/deploy/build-server.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`coordinator/deploy/build-server.mjs failed (status ${r.status ?? r.signal}):\n${r.stderr}`);
    serverBuildChecked = true;
  }
  return ['--enable-source-maps', join(ROOT, 'dist/server/start.js')];
}

export async function startPlatformProcess(run: DeepPartial<RunSettings> = {}, opts: PlatformProcessOptions = {}): Promise<PlatformProcess> {
  const buildStarted = performance.now();
  const webDir = ensureWebBuild('e2e');
  recordHarnessTime('web build', performance.now() - buildStarted);
  const started = performance.now();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'idlegrad-'));
  const ownDir = !opts.dataDir;
  // With IDLEGRAD_FAULT, the test-only entry that injects it as hooks (e2e/faulty-main.ts), from
  // source; otherwise what `npm start` runs (platformEntry).
  const entry = opts.env?.IDLEGRAD_FAULT ? ['--import', 'tsx', 'e2e/faulty-main.ts'] : platformEntry(opts.fromSource);
  // Credit vests at once here unless the test sets verification.vestingRounds: the flows these
  // tests drive (epochs, claims) would otherwise wait the default 120 rounds (the credit rule:
  // coordinator/verify/settings.ts; e2e/adversary.test.ts and the sim run it at its default).
  const settings = { ...run, verification: { vestingRounds: 0, ...run.verification } };
  await seedLedger(dataDir, { ...process.env, ...opts.env });
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...entry], {
    env: {
      ...process.env,
      IDLEGRAD_WEB_DIR: webDir,
      ...opts.env,
      PORT: String(opts.port ?? 0),
      IDLEGRAD_DATA_DIR: dataDir,
      IDLEGRAD_RUN: JSON.stringify(settings),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.processGroup ?? false,
  });
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    if (!opts.quiet) process.stderr.write(d.toString().replace(/^/gm, '  [platform] '));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const startupTimeoutMs = opts.startupTimeoutMs ?? 120_000;
  const url = await new Promise<string>((resolve, reject) => {
    let timedOut = false;
    let hardKill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      // Not ready in time, but running (anvil, a half-open ledger): stop it and what it started,
      // or they outlive the test. The coordinator handles SIGTERM only once it is up, so its
      // children (read now, before they are orphaned) get the signal too; SIGKILL after 5 s.
      timedOut = true;
      const pids = opts.processGroup ? [-child.pid!] : [child.pid!, ...descendantsOf(child.pid!).map((p) => p.pid)];
      const signal = (s: NodeJS.Signals) => {
        for (const pid of pids) {
          try {
            process.kill(pid, s);
          } catch {
            // already gone
          }
        }
      };
      signal('SIGTERM');
      hardKill = setTimeout(() => signal('SIGKILL'), 5_000);
    }, startupTimeoutMs);
    const check = () => {
      const m = out.match(/Volunteer page\s+(http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        child.off('exit', failed);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    const failed = (code: number | null, sig: NodeJS.Signals | null) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
      reject(
        new Error(
          timedOut
            ? `platform did not start within ${startupTimeoutMs / 1000} s and was stopped (${sig ?? `code ${code}`}):\n${out}`
            : `platform exited with code ${code} before it was ready:\n${out}`,
        ),
      );
    };
    child.once('exit', failed);
  }).finally(() => recordHarnessTime('platform start', performance.now() - started));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If this process exits first (a thrown harness, a test timeout, a signal the harness turns
  // into an exit), take the platform and everything it started down with it: its own group when
  // it has one, else it and its descendants as /proc lists them now ('exit' handlers are synchronous).
  const reap = () => {
    if (opts.processGroup) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      return;
    }
    signalAll([...descendantsOf(child.pid!)], 'SIGKILL');
    child.kill('SIGKILL');
  };
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  return {
    url,
    dataDir,
    child,
    output: () => out,
    async stop() {
      await timedStep('platform stop', () => stopProcessTree(child, exited, 15_000));
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill() {
      if (!opts.processGroup) throw new Error('kill(): the platform was not started with processGroup');
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(-child.pid!, 'SIGKILL');
        await exited;
      }
    },
  };
}
