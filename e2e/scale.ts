// `npm run scale -- [--json] [--volunteers N,N…] [--params P,P…] [--relay-share F] [--concurrency C] [--aggregation process|threads] [--hello-sample S] [--timeout-s T] [--max-memory-gb G] [--rows-from FILE,FILE…]`
//
// How the coordinator's work grows with the number of volunteers. For each model size P and
// each N, one round runs through the coordinator's own code in a process of its own
// (e2e/scale-run.ts: RoundEngine, its recovery/combine/eval threads, the PGlite ledger, Rewards)
// with a virtual clock and seeded inputs at realistic density and real signatures, and each
// phase's CPU is read per thread. The phases' threads are summed into the roles a scaled-out
// deployment would give separate processes (DESIGN.md "Scale shape"):
//   gateway      sessions, `round` messages, upload and report checks, signature recovery, the
//                account push after the round (main thread and runtime in open/upload/report/push,
//                and the recovery thread)
//   committer    what the commit does on the event loop (the decision's results, the outer step,
//                the ledger's rows and the acks it hands on) and the held-out evaluation (main
//                thread, runtime and eval thread in commit; the commit's steps are printed too)
//   aggregation  the round desk (the decision per cohort, coordinator/round/round-desk.ts) and the
//                robust cross-cohort combine: with --aggregation process (the default) every thread
//                of its child process in every phase, with 'threads' the combine thread
//   ledger       every SQL statement (the PGlite thread; PostgreSQL's process at scale)
// and, per epoch and per hello, what they cost on their own. For every figure per round the
// growth exponent in N is fitted (least squares of log cost on log N). A configuration whose
// aggregates alone would exceed --max-memory-gb, or that runs past --timeout-s, is not run to
// its end: its row says so and it is left out of the fits.
//
// The bars (issue 17), checked when the measured N span at least a factor 10: the
// committer's CPU per round grows at most as N^0.2, and the total CPU per volunteer-round
// stays within 2× from the smallest N to the largest. A bar missed exits 1.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RUN } from '../shared/config.ts';
import { cliOutput, listOption, numberOption, parseCli, runCli, UsageError, type CliOption, type CliSpec } from '../shared/cli.ts';
import type { DoneLine, HarnessLine, PhaseLine, ScaleRunConfig } from './scale-run.ts';

export const SCALE_CLI = {
  command: 'npm run scale --',
  summary: `One round of the coordinator's own round engine, ledger and reward code per (volunteers, parameters),
each in its own process with a virtual clock and seeded inputs at realistic density; prints per phase and
per role (gateway, committer, aggregation, ledger) the CPU time and memory, with growth exponents in N.
Exits 1 when a bar of issue 17 is missed (committer CPU per round ≤ N^0.2; CPU per volunteer-round within 2×).`,
  options: {
    json: { type: 'boolean', help: 'stdout holds only the result as one JSON object' },
    volunteers: { type: 'string', arg: 'N,N…', default: '1000,10000,100000', help: 'volunteer counts' },
    params: { type: 'string', arg: 'P,P…', default: '50890,1000000', help: 'model sizes (the MLP 784-h-10 with at least P parameters)' },
    'relay-share': { type: 'string', arg: 'F', default: '0.1', help: "share of each cohort's members in relay mode, 0 to 1" },
    concurrency: { type: 'string', arg: 'C', default: '256', help: 'reports in flight at once' },
    aggregation: {
      type: 'string',
      arg: 'WHERE',
      default: 'process',
      help: "where the aggregation role (the combine and the round desk) runs: 'process', a child process of its own whose threads are all counted to it (as a scaled-out deployment runs it), or 'threads', worker threads of the one process (as npm start runs it: V8's shared collector threads then serve it too, and are counted to the committer)",
    },
    'hello-sample': { type: 'string', arg: 'S', default: '50', help: 'hellos timed one by one after the epoch' },
    'timeout-s': { type: 'string', arg: 'T', default: '900', help: 'seconds one configuration may run' },
    'max-memory-gb': { type: 'string', arg: 'G', default: '8', help: "largest estimated size of one round's aggregates (encoded and decoded) to run" },
    'rows-from': {
      type: 'string',
      arg: 'FILE,FILE…',
      help: 'earlier --json results whose finished rows join this run\'s fits (a configuration measured here replaces theirs); with --volunteers "" nothing new runs',
    },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

const ROUND_PHASES = ['open', 'report', 'upload', 'commit', 'push', 'validator'] as const;
export type Role = 'gateway' | 'committer' | 'aggregation' | 'ledger';

export interface ScaleRow {
  volunteers: number;
  params: number;
  /** Where the aggregation role ran (--aggregation); absent in rows measured before the option: threads. */
  aggregation?: 'process' | 'threads';
  paramCount?: number;
  cohorts?: number;
  aggregates?: number;
  aggregateDensity?: number;
  accepted?: number;
  /** Contributions the round refused, by reason code (none in a run whose inputs are all honest and on time). */
  rejected?: Record<string, number>;
  /** Per phase as measured, CPU per thread group. */
  phases: PhaseLine[];
  /** The harness's own steps building inputs (outside every phase): where a run's wall goes that is not the system's. */
  harness: HarnessLine[];
  /** CPU ms per round by role (the round's phases). */
  roundCpuMs?: Record<Role, number>;
  totalCpuMsPerVolunteerRound?: number;
  epochCpuMs?: number;
  helloCpuMs?: number;
  helloWallMs?: number;
  maxRssMb?: number;
  wallS: number;
  /** Why the configuration did not finish (estimated memory, timeout, crash); absent when it did. */
  skipped?: string;
}

/** Least-squares slope of log y on log x (null with fewer than two points or a non-positive value). */
export function growthExponent(points: { n: number; y: number }[]): number | null {
  const ok = points.filter((p) => p.n > 0 && p.y > 0);
  if (ok.length < 2 || ok.length < points.length) return null;
  const xs = ok.map((p) => Math.log(p.n));
  const ys = ok.map((p) => Math.log(p.y));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const sxx = xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  if (sxx === 0) return null;
  return xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / sxx;
}

/** Sums a row's phases into roles (see the header). */
export function rolesOf(phases: PhaseLine[]): { round: Record<Role, number>; total: number } {
  const round: Record<Role, number> = { gateway: 0, committer: 0, aggregation: 0, ledger: 0 };
  let total = 0;
  for (const p of phases) {
    if (!(ROUND_PHASES as readonly string[]).includes(p.phase)) continue;
    const c = p.cpuMs;
    total += Object.values(c).reduce((a, b) => a + b, 0);
    round.ledger += c.ledger;
    round.aggregation += c.combine;
    round.gateway += c.recovery;
    if (p.phase === 'commit') round.committer += c.main + c.runtime + c.eval;
    else round.gateway += c.main + c.runtime + c.eval;
  }
  return { round, total };
}

/** Aggregates of a round held at once: each encoded (≈ 6 B a value) and decoded (8 B a value). */
function estimatedGb(volunteers: number, params: number, relayShare: number): number {
  const k = DEFAULT_RUN.cohortSize;
  const rho = DEFAULT_RUN.codec.density;
  const cohorts = Math.ceil(volunteers / k);
  const relays = Math.min(Math.max(0, k - 2), Math.round(relayShare * k));
  const values = cohorts * params * (1 - (1 - rho) ** (k - relays) + relays * rho);
  return (values * 14) / 1e9;
}

function runOne(cfg: ScaleRunConfig, timeoutS: number, progress: (s: string) => void): Promise<ScaleRow> {
  const t0 = performance.now();
  const row: ScaleRow = { volunteers: cfg.volunteers, params: cfg.params, aggregation: cfg.aggregation, phases: [], harness: [], wallS: 0 };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./scale-run.ts', import.meta.url)), JSON.stringify(cfg)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), timeoutS * 1000);
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as PhaseLine | HarnessLine | DoneLine;
        buffered = buffered.slice(nl + 1);
        if ('harness' in line) {
          row.harness.push(line);
          progress(
            `  N=${cfg.volunteers} P=${cfg.params} harness ${line.harness}: ${line.wallMs} ms wall, ${line.mainCpuMs} ms main-thread CPU, ${line.processCpuMs} ms process CPU`,
          );
        } else if ('done' in line) {
          const d = line.done;
          Object.assign(row, {
            paramCount: d.paramCount,
            cohorts: d.cohorts,
            aggregates: d.aggregates,
            aggregateDensity: d.aggregateDensity,
            accepted: d.accepted,
            rejected: d.rejected,
            maxRssMb: d.maxRssMb,
          });
        } else {
          row.phases.push(line);
          progress(`  N=${cfg.volunteers} P=${cfg.params} ${line.phase}: ${line.wallMs} ms wall, ${JSON.stringify(line.cpuMs)} ms CPU, rss ${line.rssMb} MB`);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      row.wallS = Math.round((performance.now() - t0) / 100) / 10;
      const done = [...row.harness.map((h) => `harness ${h.harness} ${(h.wallMs / 1000).toFixed(0)} s`), ...row.phases.map((p) => p.phase)];
      if (timedOut) row.skipped = `ran past --timeout-s ${timeoutS} (done: ${done.join(', ') || 'none'})`;
      else if (code !== 0 || row.paramCount === undefined)
        row.skipped = `exited ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no error output'}`;
      else {
        const { round, total } = rolesOf(row.phases);
        const sum = (p?: PhaseLine) => (p ? Object.values(p.cpuMs).reduce((a, b) => a + b, 0) : 0);
        const hello = row.phases.find((p) => p.phase === 'hello');
        Object.assign(row, {
          roundCpuMs: round,
          totalCpuMsPerVolunteerRound: total / cfg.volunteers,
          epochCpuMs: sum(row.phases.find((p) => p.phase === 'epoch')),
          helloCpuMs: hello && hello.items ? sum(hello) / hello.items : undefined,
          helloWallMs: hello && hello.items ? hello.wallMs / hello.items : undefined,
        });
      }
      resolve(row);
    });
  });
}

export interface ScaleFit {
  params: number;
  volunteers: number[];
  /** Growth exponent in N of each role's CPU per round, of the total per volunteer-round, of an epoch and of a hello. */
  exponents: Record<Role | 'totalPerVolunteerRound' | 'epoch' | 'hello', number | null>;
  /** Total CPU per volunteer-round at the largest N over the smallest. */
  perVolunteerRatio: number | null;
}

export function fitsOf(rows: ScaleRow[]): ScaleFit[] {
  const byParams = new Map<number, ScaleRow[]>();
  for (const r of rows) if (!r.skipped) byParams.get(r.params)?.push(r) ?? byParams.set(r.params, [r]);
  return [...byParams].map(([params, rs]) => {
    rs.sort((a, b) => a.volunteers - b.volunteers);
    const fit = (y: (r: ScaleRow) => number | undefined) => growthExponent(rs.map((r) => ({ n: r.volunteers, y: y(r) ?? 0 })));
    const first = rs[0];
    const last = rs[rs.length - 1];
    return {
      params,
      volunteers: rs.map((r) => r.volunteers),
      exponents: {
        gateway: fit((r) => r.roundCpuMs?.gateway),
        committer: fit((r) => r.roundCpuMs?.committer),
        aggregation: fit((r) => r.roundCpuMs?.aggregation),
        ledger: fit((r) => r.roundCpuMs?.ledger),
        totalPerVolunteerRound: fit((r) => r.totalCpuMsPerVolunteerRound),
        epoch: fit((r) => r.epochCpuMs),
        hello: fit((r) => r.helloCpuMs),
      },
      perVolunteerRatio: rs.length > 1 ? last.totalCpuMsPerVolunteerRound! / first.totalCpuMsPerVolunteerRound! : null,
    };
  });
}

export interface ScaleBar {
  name: string;
  params: number;
  value: number | null;
  limit: number;
  /** null: not checked (the measured N span less than a factor 10, or a figure not measured). */
  pass: boolean | null;
  note: string;
}

export function barsOf(fits: ScaleFit[]): ScaleBar[] {
  return fits.flatMap((f) => {
    const span = f.volunteers.length > 1 ? f.volunteers[f.volunteers.length - 1] / f.volunteers[0] : 1;
    const range = `N ${f.volunteers[0]}…${f.volunteers[f.volunteers.length - 1]}`;
    const check = (name: string, value: number | null, limit: number): ScaleBar => ({
      name,
      params: f.params,
      value,
      limit,
      pass: span < 10 || value === null ? null : value <= limit,
      note: span < 10 ? `not checked: ${range} spans less than 10×` : value === null ? 'not checked: a figure was 0 or missing' : range,
    });
    return [check('committerCpuExponent', f.exponents.committer, 0.2), check('perVolunteerRoundRatio', f.perVolunteerRatio, 2)];
  });
}

/**
 * The rows to fit: the finished rows of earlier results (`earlier`, in order), then this run's,
 * each (N, P) once — a later finished row replaces an earlier one, a skipped row never replaces
 * a finished one. Rows keep the order N within P as measured.
 */
export function mergeRows(earlier: ScaleRow[][], now: ScaleRow[]): ScaleRow[] {
  const byConfig = new Map<string, ScaleRow>();
  for (const r of [...earlier.flat(), ...now]) {
    const key = `${r.params}:${r.volunteers}`;
    const had = byConfig.get(key);
    if (!had || had.skipped || !r.skipped) byConfig.set(key, r);
  }
  return [...byConfig.values()].sort((a, b) => a.params - b.params || a.volunteers - b.volunteers);
}

/** An earlier `npm run scale -- --json` result's rows, or a UsageError naming the file and what is wrong with it. */
export function rowsOfFile(path: string): ScaleRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--rows-from ${path}: not a readable JSON file (${(e as Error).message})`);
  }
  const rows = (parsed as Partial<ScaleResult> | null)?.rows;
  if (!Array.isArray(rows) || rows.some((r) => typeof r?.volunteers !== 'number' || typeof r?.params !== 'number' || !Array.isArray(r?.phases)))
    throw new UsageError(`--rows-from ${path}: not an npm run scale --json result (expected { rows: [{ volunteers, params, phases, … }] })`);
  return rows.map((r: ScaleRow) => ({ ...r, harness: r.harness ?? [] }));
}

export interface ScaleResult {
  rows: ScaleRow[];
  fits: ScaleFit[];
  bars: ScaleBar[];
  loadAverage: number[];
}

async function main(): Promise<string[]> {
  const values = parseCli(SCALE_CLI);
  const out = cliOutput(!!values.json);
  const ints = (name: string) =>
    listOption(values, name)!.map((s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 2) throw new UsageError(`--${name}: expected integers ≥ 2, got ${JSON.stringify(s)}`);
      return v;
    });
  const earlier = (listOption(values, 'rows-from') ?? []).map(rowsOfFile);
  const volunteers = values.volunteers === '' && earlier.length ? [] : ints('volunteers');
  const params = ints('params');
  const relayShare = numberOption(values, 'relay-share', { min: 0, max: 1 })!;
  const concurrency = numberOption(values, 'concurrency', { min: 1, integer: true })!;
  const helloSample = numberOption(values, 'hello-sample', { min: 1, integer: true })!;
  const aggregation = values.aggregation;
  if (aggregation !== 'process' && aggregation !== 'threads')
    throw new UsageError(`--aggregation: expected process or threads, got ${JSON.stringify(aggregation)}`);
  const timeoutS = numberOption(values, 'timeout-s', { positive: true })!;
  const maxGb = numberOption(values, 'max-memory-gb', { positive: true })!;
  const startLoad = loadavg();
  out.progress(`scale: N ${volunteers.join(', ')} × P ${params.join(', ')}; load average ${startLoad.map((x) => x.toFixed(2)).join(' ')}`);

  const rows: ScaleRow[] = [];
  for (const p of params) {
    for (const n of [...volunteers].sort((a, b) => a - b)) {
      const gb = estimatedGb(n, p, relayShare);
      if (gb > maxGb) {
        rows.push({
          volunteers: n,
          params: p,
          phases: [],
          harness: [],
          wallS: 0,
          skipped: `its aggregates would hold about ${gb.toFixed(1)} GB (--max-memory-gb ${maxGb})`,
        });
        out.progress(`  N=${n} P=${p}: skipped, ${rows.at(-1)!.skipped}`);
        continue;
      }
      rows.push(await runOne({ volunteers: n, params: p, relayShare, concurrency, helloSample, aggregation }, timeoutS, out.progress));
      if (rows.at(-1)!.skipped) out.progress(`  N=${n} P=${p}: ${rows.at(-1)!.skipped}`);
    }
  }
  if (earlier.length) {
    const merged = mergeRows(earlier, rows);
    out.progress(`fitting ${merged.length} rows: this run's ${rows.length} and ${merged.length - rows.length} from --rows-from`);
    rows.splice(0, rows.length, ...merged);
  }
  const fits = fitsOf(rows);
  const bars = barsOf(fits);
  const result: ScaleResult = { rows, fits, bars, loadAverage: loadavg() };

  const f0 = (x: number | undefined | null, d = 0) => (x === undefined || x === null ? '—' : x.toFixed(d));
  out.summary(`load average ${startLoad.map((x) => x.toFixed(2)).join(' ')} → ${result.loadAverage.map((x) => x.toFixed(2)).join(' ')}`);
  out.summary(
    '| N | params | cohorts | gateway ms | committer ms | aggregation ms | ledger ms | CPU ms / volunteer-round | epoch ms | hello ms | max RSS MB | wall s |',
  );
  out.summary('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.skipped) out.summary(`| ${r.volunteers} | ${r.params} | — | skipped: ${r.skipped} |`);
    else {
      const c = r.roundCpuMs!;
      out.summary(
        `| ${r.volunteers} | ${r.paramCount} | ${r.cohorts} | ${c.gateway} | ${c.committer} | ${c.aggregation} | ${c.ledger} | ${f0(r.totalCpuMsPerVolunteerRound, 3)} | ${r.epochCpuMs} | ${f0(r.helloCpuMs, 1)} | ${r.maxRssMb} | ${r.wallS} |`,
      );
    }
  }
  for (const f of fits) {
    const e = Object.entries(f.exponents).map(([k, v]) => `${k} ${f0(v, 2)}`);
    out.summary(`P=${f.params}, N ${f.volunteers.join('/')}: growth exponents ${e.join(', ')}; CPU per volunteer-round ×${f0(f.perVolunteerRatio, 2)}`);
  }
  for (const b of bars)
    out.summary(`bar ${b.name} (P=${b.params}): ${f0(b.value, 3)} ≤ ${b.limit}: ${b.pass === null ? b.note : b.pass ? 'pass' : 'MISSED'} (${b.note})`);
  out.json(result);
  return bars.filter((b) => b.pass === false).map((b) => `${b.name} at P=${b.params} is ${b.value?.toFixed(3)} (bar ${b.limit}, ${b.note})`);
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) runCli(SCALE_CLI, main);
